"""The portal: server-rendered pages for talent, legal and production, on the same services as the API."""
