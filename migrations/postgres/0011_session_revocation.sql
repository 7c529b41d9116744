-- Web sessions are signed cookies that no table lists. Each names the generation of its user's
-- sessions it was issued in; signing out (or a new password) starts the next generation, and
-- every session of an earlier one (a copied cookie, another browser) is refused from then on.

ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
