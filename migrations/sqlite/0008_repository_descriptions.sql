-- A description the repository's maintainers write on the web settings page; when NULL, pages
-- fall back to the latest Wasm tag's annotation (org.opencontainers.image.description).

ALTER TABLE repositories ADD COLUMN description TEXT;
