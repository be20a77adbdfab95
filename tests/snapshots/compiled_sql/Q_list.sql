SELECT CAST(json_build_object('contacts', json_build_object('edges', (SELECT coalesce(json_agg(json_build_object('node', json_build_object('id', translate(encode(convert_to('Contact:' || CAST(anon_1.id AS TEXT), 'UTF8'), 'base64'), chr(10), ''), 'name', anon_1.name, 'avatar', (SELECT json_build_object('url', 'cgurlMARKER:' || stored_file_1.entity || ':' || CAST(stored_file_1.id AS TEXT) || ':' || encode(convert_to(stored_file_1.filename, 'UTF8'), 'hex'), 'contentType', stored_file_1.content_type, 'size', stored_file_1.size, 'width', stored_file_1.width, 'height', stored_file_1.height) AS json_build_object_2 
FROM stored_file AS stored_file_1 
WHERE stored_file_1.id = anon_1.avatar_id))) ORDER BY anon_1.name ASC, anon_1.id ASC), CAST('[]' AS JSON)) AS coalesce_1 
FROM (SELECT contact.id AS id, contact.name AS name, contact.email AS email, contact.phone AS phone, contact.notes AS notes, contact.avatar_id AS avatar_id, contact.created_at AS created_at, contact.updated_at AS updated_at 
FROM contact ORDER BY contact.name ASC, contact.id ASC 
 LIMIT $1::INTEGER) AS anon_1))) AS TEXT) AS json_build_object_1

-- parameters: [(0, 'limit')]
