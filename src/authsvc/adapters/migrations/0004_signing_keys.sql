-- JWT signing keys. The newest active key signs; older ones verify until retire_after.
CREATE TABLE signing_keys (
    kid text PRIMARY KEY,
    algorithm text NOT NULL CHECK (algorithm IN ('HS256', 'EdDSA')),
    material bytea,        -- AES-GCM encrypted key; NULL: the configured root secret itself
    public_jwk jsonb,      -- EdDSA keys: what /.well-known/jwks.json publishes
    created_at timestamptz NOT NULL DEFAULT now(),
    active_from timestamptz NOT NULL,
    retire_after timestamptz
);
