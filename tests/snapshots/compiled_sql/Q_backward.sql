SELECT CAST(json_build_object('contacts', json_build_object('edges', (SELECT coalesce(json_agg(json_build_object('cursor', 'cgcursorMARKER:NAME_ASC:' || encode(convert_to(CAST(json_build_array(anon_1.name, replace(CAST(anon_1.id AS TEXT), '-', '')) AS TEXT), 'UTF8'), 'hex'), 'node', json_build_object('id', translate(encode(convert_to('Contact:' || CAST(anon_1.id AS TEXT), 'UTF8'), 'base64'), chr(10), ''), 'name', anon_1.name, 'avatar', (SELECT json_build_object('url', 'cgurlMARKER:' || stored_file_1.entity || ':' || CAST(stored_file_1.id AS TEXT) || ':' || encode(convert_to(stored_file_1.filename, 'UTF8'), 'hex'), 'contentType', stored_file_1.content_type, 'size', stored_file_1.size, 'width', stored_file_1.width, 'height', stored_file_1.height) AS json_build_object_2 
FROM stored_file AS stored_file_1 
WHERE stored_file_1.id = anon_1.avatar_id))) ORDER BY anon_1.name ASC, anon_1.id ASC), CAST('[]' AS JSON)) AS coalesce_1 
FROM (SELECT contact.id AS id, contact.name AS name, contact.email AS email, contact.phone AS phone, contact.notes AS notes, contact.avatar_id AS avatar_id, contact.created_at AS created_at, contact.updated_at AS updated_at 
FROM contact 
WHERE contact.name < $1::VARCHAR OR contact.name = $1::VARCHAR AND contact.id < $2::UUID ORDER BY contact.name DESC, contact.id DESC 
 LIMIT $3::INTEGER) AS anon_1), 'pageInfo', json_build_object('hasPreviousPage', (SELECT count(*) > $3::INTEGER AS anon_2 
FROM (SELECT contact.id AS id, contact.name AS name, contact.email AS email, contact.phone AS phone, contact.notes AS notes, contact.avatar_id AS avatar_id, contact.created_at AS created_at, contact.updated_at AS updated_at 
FROM contact 
WHERE contact.name < $1::VARCHAR OR contact.name = $1::VARCHAR AND contact.id < $2::UUID ORDER BY contact.name DESC, contact.id DESC 
 LIMIT $3::INTEGER + $4::INTEGER) AS anon_3), 'startCursor', (SELECT 'cgcursorMARKER:NAME_ASC:' || encode(convert_to(CAST(json_build_array(anon_5.name, replace(CAST(anon_5.id AS TEXT), '-', '')) AS TEXT), 'UTF8'), 'hex') AS anon_4 
FROM (SELECT contact.id AS id, contact.name AS name, contact.email AS email, contact.phone AS phone, contact.notes AS notes, contact.avatar_id AS avatar_id, contact.created_at AS created_at, contact.updated_at AS updated_at 
FROM contact 
WHERE contact.name < $1::VARCHAR OR contact.name = $1::VARCHAR AND contact.id < $2::UUID ORDER BY contact.name DESC, contact.id DESC 
 LIMIT $3::INTEGER) AS anon_5 ORDER BY anon_5.name ASC, anon_5.id ASC 
 LIMIT $5::INTEGER)))) AS TEXT) AS json_build_object_1

-- parameters: [(0, 'before', 0), (0, 'before', 1), (0, 'limit'), ('constant', 1), ('constant', 1)]
