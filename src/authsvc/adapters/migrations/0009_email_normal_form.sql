-- Emails are stored in their normal form (NFKC, case-folded: authsvc.domain.validation), written
-- by the service, and unique as such. lower() was weaker than that and locale-dependent. The
-- rows already here are brought to that form, or reported, by adapters/email_normal_form.py,
-- run right after this file in the same transaction.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_check;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email);
