SELECT CAST(json_build_object('contact', (SELECT json_build_object('id', translate(encode(convert_to('Contact:' || CAST(contact_1.id AS TEXT), 'UTF8'), 'base64'), chr(10), ''), 'name', contact_1.name, 'email', contact_1.email, 'avatar', (SELECT json_build_object('url', 'cgurlMARKER:' || stored_file_1.entity || ':' || CAST(stored_file_1.id AS TEXT) || ':' || encode(convert_to(stored_file_1.filename, 'UTF8'), 'hex'), 'contentType', stored_file_1.content_type, 'size', stored_file_1.size, 'width', stored_file_1.width, 'height', stored_file_1.height) AS json_build_object_3 
FROM stored_file AS stored_file_1 
WHERE stored_file_1.id = contact_1.avatar_id)) AS json_build_object_2 
FROM contact AS contact_1 
WHERE contact_1.id = $1::UUID)) AS TEXT) AS json_build_object_1

-- parameters: [(0, 'id')]
