-- How dbkill secures its connections to each instance (domain::TlsMode); existing instances get
-- the default, `preferred`. tls_ca is the PEM of the CA that verify_ca / verify_identity trust;
-- a CA certificate is public, so it is stored as given, not sealed.
ALTER TABLE instances ADD COLUMN tls_mode TEXT NOT NULL DEFAULT 'preferred';
ALTER TABLE instances ADD COLUMN tls_ca TEXT;
