-- ES256 and RS256 signing keys besides HS256 and EdDSA (issue 18: gateways that verify JWTs
-- themselves often take only RSA or ECDSA keys). Widening the check changes nothing for rows that
-- exist. Replicas of earlier releases cannot read such keys: rotate to ES256 or RS256 once every
-- replica runs this release (from this release on, a key of an unknown algorithm is skipped).
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_algorithm_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_algorithm_check
    CHECK (algorithm IN ('HS256', 'EdDSA', 'ES256', 'RS256'));
