SELECT CAST(json_build_object('albums', json_build_object('nodes', (SELECT coalesce(json_agg(json_build_object('id', translate(encode(convert_to('Album:' || CAST(anon_1.id AS TEXT), 'UTF8'), 'base64'), chr(10), ''), 'title', anon_1.title, 'photos', json_build_object('nodes', (SELECT coalesce(json_agg(json_build_object('id', translate(encode(convert_to('Photo:' || CAST(anon_2.id AS TEXT), 'UTF8'), 'base64'), chr(10), ''), 'caption', anon_2.caption, 'file', (SELECT json_build_object('url', 'cgurlMARKER:' || stored_file_1.entity || ':' || CAST(stored_file_1.id AS TEXT) || ':' || encode(convert_to(stored_file_1.filename, 'UTF8'), 'hex'), 'contentType', stored_file_1.content_type, 'size', stored_file_1.size, 'width', stored_file_1.width, 'height', stored_file_1.height) AS json_build_object_2 
FROM stored_file AS stored_file_1 
WHERE stored_file_1.id = anon_2.file_id)) ORDER BY anon_2.sort ASC, anon_2.id ASC), CAST('[]' AS JSON)) AS coalesce_2 
FROM (SELECT photo.id AS id, photo.album_id AS album_id, photo.file_id AS file_id, photo.caption AS caption, photo.sort AS sort, photo.created_at AS created_at 
FROM photo 
WHERE photo.album_id = anon_1.id ORDER BY photo.sort ASC, photo.id ASC 
 LIMIT $1::INTEGER) AS anon_2))) ORDER BY anon_1.title ASC, anon_1.id ASC), CAST('[]' AS JSON)) AS coalesce_1 
FROM (SELECT album.id AS id, album.title AS title, album.description AS description, album.created_at AS created_at, album.updated_at AS updated_at 
FROM album ORDER BY album.title ASC, album.id ASC 
 LIMIT $2::INTEGER) AS anon_1))) AS TEXT) AS json_build_object_1

-- parameters: [(1, 'limit'), (0, 'limit')]
