/// Connect configurations written for these tests from the settings the product brief lists
/// (not copied from Posit's documentation).
enum Fixtures {
    static let dbPassword = "s3cr;et#Pass"
    static let instrumentationSecret = "metr1cs-only"
    static let ldapBindSecret = "bind \"quoted\" pw"

    /// A large production-like installation: PostgreSQL (password in the URL, separate
    /// instrumentation database), data directory on a shared mount, LDAP with two directories,
    /// SAML, OAuth2, Launcher on Kubernetes, several Python and Quarto versions, comments in
    /// every style, a repeated section, quoted values and a continuation line.
    static let production = #"""
    ; /etc/rstudio-connect/rstudio-connect.gcfg
    # Managed by configuration management; local edits are overwritten.

    [Server]
    Address = "https://connect.example.org/"
    SenderEmail = connect-noreply@example.org   ; who the mail comes from
    DataDir = /srv/connect/data/
    EncryptionKeyFile = /etc/rstudio-connect/keys/secret.key
    LandingDir = /srv/connect/data/landing-page
    PublicWarning = "Authorised use only; activity is logged."

    [HTTP]
    Listen = :80

    [HTTPS]
    Listen = :443
    Certificate = /etc/ssl/certs/connect.example.org.crt
    Key = /etc/ssl/private/connect.example.org.key   # readable by root only
    MinimumTLS = 1.2

    [Authentication]
    Provider = ldap

    [LDAP "Corporate Directory"]
    ServerAddress = ldap.example.org:636
    TLSCACertificate = /etc/ssl/certs/corp-ca.pem
    BindDN = "cn=connect,ou=services,dc=example,dc=org"
    BindPassword = "bind \"quoted\" pw"
    UserSearchBaseDN = "ou=people,dc=example,dc=org"
    UserFilterBase = objectClass=person

    [LDAP "Partner Directory"]
    ServerAddress = ldap.partner.example.net:636
    TLSCACertificate = /etc/ssl/certs/partner-ca.pem

    [SAML]
    IdPMetaDataURL = https://idp.example.org/metadata.xml
    IdPMetaDataPath = /etc/rstudio-connect/saml/idp-metadata.xml
    SPEncryptionCertificate = /etc/rstudio-connect/saml/sp.crt
    UniqueIdAttribute = NameID

    [OAuth2]
    ClientId = connect-prod
    ClientSecretFile = /etc/rstudio-connect/oauth2-client-secret

    [Database]
    Provider = postgres
    Dir = /var/lib/rstudio-connect-db

    [Postgres]
    URL = "postgres://connect:s3cr;et#Pass@db.example.org:5432/connect?sslmode=require"
    InstrumentationURL = postgres://metrics@db.example.org/connect_metrics
    InstrumentationPassword = metr1cs-only

    [Python]
    Enabled = true
    Executable = /opt/python/3.10.13/bin/python3
    Executable = /opt/python/3.11.9/bin/python3

    [Quarto]
    Enabled
    Executable = /opt/quarto/1.4.557/bin/quarto

    [R]
    Executable = /opt/R/4.3.3/bin/R
    Executable = /opt/R/4.4.1/bin/R

    [Launcher]
    Enabled = true
    Kubernetes = true
    ClusterDefinitions = /etc/rstudio-connect/launcher/launcher.kubernetes.conf
    KubernetesProfilesConfig = /etc/rstudio-connect/launcher/launcher.kubernetes.profiles.conf
    ScratchPath = /srv/connect/launcher-scratch
    DataDirPVCName = connect-data

    [Metrics]
    DataPath = /var/lib/connect-metrics
    Interval = 60s

    [RPackageRepository "CRAN"]
    URL = https://packagemanager.posit.co/cran/__linux__/jammy/latest

    ; the Python section again: repeated sections add up
    [Python]
    Executable = /opt/python/3.12.4/bin/python3

    [Applications]
    RunAsCurrentUser = false
    ViewerOnDemandReports = true
    Supervisor = /usr/local/bin/supervisor \
        --quiet
    """#

    /// A fresh single-node installation: everything by default but the address.
    static let minimal = """
    [Server]
    Address = http://connect.local:3939
    """
}
