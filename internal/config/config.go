// Package config is Signet's configuration: defaults, then a YAML file, then SIGNET_* environment
// variables, then command-line flags, each overriding the one before. Every setting is listed once in
// Settings, which is what the flags, the environment and the README table are made from.
// Secrets are never settings values: a setting names a file or an environment variable that holds them.
package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signet-b24/signet/internal/i18n"
)

// Token is one PKCS#11 token, as in the YAML list `tokens:`.
type Token struct {
	Name            string        `yaml:"name"`
	Module          string        `yaml:"module"`
	Label           string        `yaml:"label"`
	Serial          string        `yaml:"serial"`
	Slot            *int          `yaml:"slot"`
	PinFile         string        `yaml:"pin_file"`
	PinEnv          string        `yaml:"pin_env"`
	MaxSessions     int           `yaml:"max_sessions"`
	PoolWaitTimeout time.Duration `yaml:"pool_wait_timeout"`
	// Concurrency and RatePerSec schedule the worker's signatures on the token (issue 21, must 5):
	// signatures at once (0: 1 on a hardware slot, the session pool on a software token) and a cap
	// on signatures a second (0: none).
	Concurrency int     `yaml:"concurrency"`
	RatePerSec  float64 `yaml:"rate_per_sec"`
}

// Config is every setting of `signet serve`, `signet intake` and `signet worker`.
type Config struct {
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"public_url"`
	DataDir   string `yaml:"data_dir"`
	Log       struct {
		Format string `yaml:"format"` // auto, json, console
		Level  string `yaml:"level"`
	} `yaml:"log"`
	NATS struct {
		URL         string `yaml:"url"`
		CredsFile   string `yaml:"creds_file"`
		Replicas    int    `yaml:"replicas"`
		SyncAlways  bool   `yaml:"sync_always"`
		MonitorPort int    `yaml:"monitor_port"`
		Port        int    `yaml:"port"`
		// Provision: the server creates and updates the streams, consumers and buckets at start (issue
		// 21 must 3). Off on every process of a cluster but one declared owner, or all when `signet
		// setup` provisions, so that the last process to start no longer sets cluster-wide settings.
		Provision bool `yaml:"provision"`

		// User and PasswordFile: user/password authentication (the password is read from the file).
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
		// TLS to the NATS servers: the CA that signed their certificates, and this client's own
		// certificate and key when the servers verify clients (verify: true).
		TLSCAFile   string `yaml:"tls_ca_file"`
		TLSCertFile string `yaml:"tls_cert_file"`
		TLSKeyFile  string `yaml:"tls_key_file"`
	} `yaml:"nats"`
	Storage struct {
		URL       string        `yaml:"url"`
		Retention time.Duration `yaml:"retention"`
		LinkTTL   time.Duration `yaml:"link_ttl"`
		// CredentialsFile holds the S3 keys as KEY=VALUE lines (storage.CredentialsSource), so that
		// a Kubernetes Secret or a systemd credential reaches Signet as a file, never the environment.
		CredentialsFile string `yaml:"credentials_file"`
	} `yaml:"storage"`
	// Mail is the SMTP server that sends enrolment links by e-mail (internal/mail, issue 19).
	Mail struct {
		SMTPHost        string `yaml:"smtp_host"`
		From            string `yaml:"from"`
		TLS             string `yaml:"tls"`
		CredentialsFile string `yaml:"credentials_file"`
	} `yaml:"mail"`
	Worker struct {
		Interactive int           `yaml:"interactive"`
		Batch       int           `yaml:"batch"`
		Callbacks   int           `yaml:"callbacks"`
		AckWait     time.Duration `yaml:"ack_wait"`
		MaxDeliver  int           `yaml:"max_deliver"`
		// MaxAckPending: 0 derives it from this process's pools (see AckPending).
		MaxAckPending int    `yaml:"max_ack_pending"`
		MaxPDFBytes   int64  `yaml:"max_pdf_bytes"`
		TempDir       string `yaml:"temp_dir"`
	} `yaml:"worker"`
	// HTTP bounds how long a request may take to arrive and to be answered (the verification page
	// extends them for an upload that keeps arriving at verify.min_upload_rate).
	HTTP struct {
		ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
		ReadTimeout       time.Duration `yaml:"read_timeout"`
		WriteTimeout      time.Duration `yaml:"write_timeout"`
		IdleTimeout       time.Duration `yaml:"idle_timeout"`
		MaxHeaderBytes    int           `yaml:"max_header_bytes"`
		TrustedProxies    []string      `yaml:"trusted_proxies"`
	} `yaml:"http"`
	// Metrics is the listener of /metrics, apart from the public one: its labels name tokens,
	// credentials and portals, which the internet has no business reading (issue 15, must 9).
	Metrics struct {
		Listen    string `yaml:"listen"`
		TokenFile string `yaml:"token_file"`
	} `yaml:"metrics"`
	// Verify bounds the public verification page per client address and in total.
	Verify struct {
		PerClient     int     `yaml:"per_client"`
		RatePerMinute float64 `yaml:"rate_per_minute"`
		Burst         int     `yaml:"burst"`
		Uploads       int     `yaml:"uploads"`
		Concurrency   int     `yaml:"concurrency"`
		MinUploadRate int64   `yaml:"min_upload_rate"`
		// TrustAnchors is the PEM file of root certificates the page trusts (`signet verify --trust`).
		TrustAnchors string `yaml:"trust_anchors"`
	} `yaml:"verify"`
	// PDF bounds what reading one PDF may decode, and what all of them together may hold.
	PDF struct {
		MaxStreamBytes   int64 `yaml:"max_stream_bytes"`
		MaxDocumentBytes int64 `yaml:"max_document_bytes"`
		MaxObjects       int   `yaml:"max_objects"`
		DecodeBudget     int64 `yaml:"decode_budget"`
	} `yaml:"pdf"`
	Bitrix24 struct {
		ClientID         string   `yaml:"client_id"`
		ClientSecretFile string   `yaml:"client_secret_file"`
		OAuthURL         string   `yaml:"oauth_url"`
		Portals          []string `yaml:"portals"`
		AllowPrivate     bool     `yaml:"allow_private"`
		RatePerSec       float64  `yaml:"rate_per_sec"`
		Burst            int      `yaml:"burst"`
		// OverloadPause is how long every process stops calling a portal after 503 OVERLOAD_LIMIT.
		OverloadPause time.Duration `yaml:"overload_pause"`
		RobotCode     string        `yaml:"robot_code"`
		// LinkField and StatusField are the CRM item fields the bulk link-only mode writes (issue 19,
		// must 3): user fields the portal administrator creates, named as crm.item.* names them.
		LinkField   string `yaml:"link_field"`
		StatusField string `yaml:"status_field"`
		// RouteDateField, RouteStatusField and RouteFolder are where a signing route is mirrored
		// (issue 20, must 4; producer/routes/mirror*.go).
		RouteDateField   string `yaml:"route_date_field"`
		RouteStatusField string `yaml:"route_status_field"`
		RouteFolder      string `yaml:"route_folder"`
		WebhookURLFile   string `yaml:"webhook_url_file"`
	} `yaml:"bitrix24"`
	// Requests are the requests to sign a robot makes when its signer needs a code and got none
	// (issue 19, producer/requests): how long one waits, and how often the intake ends those past it.
	Requests struct {
		Deadline      time.Duration `yaml:"deadline"`
		SweepInterval time.Duration `yaml:"sweep_interval"`
	} `yaml:"requests"`
	// External is how people outside the company sign by link and code (issue 20, producer/external):
	// the company's seal that signs for them, the link's life, the code's attempts, and the SMS provider
	// (internal/sms) beside the e-mail of mail.*.
	External struct {
		SealCredential     string        `yaml:"seal_credential"`
		LinkTTL            time.Duration `yaml:"link_ttl"`
		CodeAttempts       int           `yaml:"code_attempts"`
		SMSProvider        string        `yaml:"sms_provider"`
		SMSURL             string        `yaml:"sms_url"`
		SMSCredentialsFile string        `yaml:"sms_credentials_file"`
		SMSFrom            string        `yaml:"sms_from"`
	} `yaml:"external"`
	// Routes is what happens after a signing route completes (issue 20, must 5): how long the link
	// to its final document holds, and when its files are deleted (producer/routes/completion_link.go).
	Routes struct {
		FinalLinkTTL time.Duration `yaml:"final_link_ttl"`
		DeleteAfter  time.Duration `yaml:"delete_after"`
	} `yaml:"routes"`
	Security struct {
		SecretKeysFile string `yaml:"secret_keys_file"`
		AdminTokenFile string `yaml:"admin_token_file"`
		// AdminPasswordsFile holds the local administrators of the control panel (Argon2id hashes).
		AdminPasswordsFile string `yaml:"admin_passwords_file"`
		// JobSigningKeyFile is the intake's Ed25519 key that signs each job's authorisation;
		// JobVerifyKeysFile the public keys workers accept; JobTTL how long a signed job stays valid.
		JobSigningKeyFile string        `yaml:"job_signing_key_file"`
		JobVerifyKeysFile string        `yaml:"job_verify_keys_file"`
		JobTTL            time.Duration `yaml:"job_ttl"`
		// Sign-in limits of the control panel (login.go; web/throttle.go).
		LoginMaxFailures      int           `yaml:"login_max_failures"`
		LoginLockout          time.Duration `yaml:"login_lockout"`
		LoginMaxPerAddress    int           `yaml:"login_max_per_address"`
		LoginConcurrentHashes int           `yaml:"login_concurrent_hashes"`
	} `yaml:"security"`
	Audit struct {
		Credential         string        `yaml:"credential"`
		CheckpointEvery    int           `yaml:"checkpoint_every"`
		CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	} `yaml:"audit"`
	// Signing is how workers sign: signing.tsa_url adds an RFC 3161 signature timestamp (PAdES B-T,
	// issue 17 must 2) to every signature; signing.level lt or lta also embeds the chain's
	// revocation data and, for lta, a document timestamp (issue 17 must 4 and 5).
	Signing struct {
		TSAURL string `yaml:"tsa_url"`
		Level  string `yaml:"level"`
		// TimeZone is the zone of the stamp and the certificate of completion when the signer's
		// Bitrix24 TIME_ZONE is not known (issue 18, must 4).
		TimeZone string `yaml:"time_zone"`
	} `yaml:"signing"`
	// CA is the internal CA's revocation service (issue 17 must 3): RevocationURL is the base URL
	// written into the certificates it issues (CRL distribution point, OCSP responder).
	CA struct {
		RevocationURL string `yaml:"revocation_url"`
	} `yaml:"ca"`
	// Archive is the job that keeps the stored signed documents verifiable (issue 17 must 6,
	// worker/archive): every Schedule (0: off) it renews the documents whose protecting certificate
	// expires within RenewBefore or whose algorithms weakened.
	Archive struct {
		Schedule    time.Duration `yaml:"schedule"`
		RenewBefore time.Duration `yaml:"renew_before"`
	} `yaml:"archive"`
	Demo struct {
		Token      string `yaml:"token"`
		Credential string `yaml:"credential"`
	} `yaml:"demo"`
	Tokens []Token `yaml:"tokens"`
}

// Defaults returns the embedded defaults: everything in one process, state under ./data.
func Defaults() *Config {
	c := &Config{}
	c.Listen = "127.0.0.1:8080"
	c.DataDir = "./data"
	c.Log.Format = "auto"
	c.Log.Level = "info"
	c.NATS.Replicas = 1
	c.NATS.Provision = true
	c.NATS.Port = -1
	c.Storage.Retention = 14 * 24 * time.Hour
	c.Mail.TLS = "starttls"
	c.Storage.LinkTTL = 7 * 24 * time.Hour
	c.Worker.Interactive = 8
	c.Worker.Batch = 4
	c.Worker.Callbacks = 32 // callbacks in hand share batch requests of up to 50 commands (≤ 64: MaxRequestBatch)
	c.Worker.AckWait = 30 * time.Second
	c.Worker.MaxDeliver = 10
	c.Worker.MaxPDFBytes = 100 << 20
	c.HTTP.ReadHeaderTimeout = 10 * time.Second
	c.HTTP.ReadTimeout = time.Minute
	c.HTTP.WriteTimeout = 2 * time.Minute
	c.HTTP.IdleTimeout = 2 * time.Minute
	c.HTTP.MaxHeaderBytes = 64 << 10
	c.Metrics.Listen = "127.0.0.1:9464"
	c.Verify.PerClient = 2
	c.Verify.RatePerMinute = 30
	c.Verify.Burst = 10
	c.Verify.Uploads = 32
	c.Verify.Concurrency = 2
	c.Verify.MinUploadRate = 64 << 10
	c.PDF.MaxStreamBytes = 32 << 20
	c.PDF.MaxDocumentBytes = 64 << 20
	c.PDF.MaxObjects = 1 << 20
	c.PDF.DecodeBudget = 256 << 20
	c.Bitrix24.OAuthURL = "https://oauth.bitrix.info/oauth/token/"
	c.Bitrix24.RatePerSec = 2
	c.Bitrix24.OverloadPause = 30 * time.Minute
	c.Bitrix24.Burst = 50
	c.Bitrix24.RobotCode = "signet_sign_pdf"
	c.Bitrix24.LinkField, c.Bitrix24.StatusField = "ufCrmSignetLink", "ufCrmSignetStatus" // deals' UF_CRM_SIGNET_LINK, UF_CRM_SIGNET_STATUS
	c.Bitrix24.RouteDateField, c.Bitrix24.RouteStatusField = "ufCrmSignetSignedAt", "ufCrmSignetRouteStatus"
	c.Bitrix24.RouteFolder = "Signed Documents"
	c.Requests.Deadline = 72 * time.Hour
	c.Requests.SweepInterval = time.Minute
	c.External.LinkTTL = 14 * 24 * time.Hour
	c.Routes.FinalLinkTTL = 14 * 24 * time.Hour
	c.Routes.DeleteAfter = 30 * 24 * time.Hour
	c.External.CodeAttempts = 5
	c.Security.JobTTL = 24 * time.Hour
	c.Signing.TimeZone = "UTC"
	c.Security.LoginMaxFailures = 5
	c.Security.LoginLockout = 15 * time.Minute
	c.Security.LoginMaxPerAddress = 20
	c.Security.LoginConcurrentHashes = 2
	c.Audit.CheckpointEvery = 100
	c.Audit.CheckpointInterval = time.Minute
	c.Archive.RenewBefore = 8760 * time.Hour // a year: time for a failed renewal to be retried for months
	c.Demo.Token = "signet-demo"
	c.Demo.Credential = "pkcs11:token=signet-demo;object=demo-signer"
	return c
}

// Setting is one scalar setting: its YAML path, environment variable, flag and meaning.
type Setting struct {
	Key  string // YAML path, e.g. nats.url; the flag is the same with dots as dashes
	Help string
	ptr  any
}

// Env is the environment variable of the setting: SIGNET_ and the key in upper case.
func (s Setting) Env() string {
	return "SIGNET_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(s.Key))
}

// Flag is the command-line flag of the setting.
func (s Setting) Flag() string {
	return strings.ReplaceAll(strings.ReplaceAll(s.Key, ".", "-"), "_", "-")
}

// Value renders the setting's current value (call on Defaults()).
func (s Setting) Value() string {
	switch p := s.ptr.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *float64:
		return strconv.FormatFloat(*p, 'f', -1, 64)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	}
	return ""
}

func (s Setting) set(v string) error {
	var err error
	switch p := s.ptr.(type) {
	case *string:
		*p = v
	case *int:
		*p, err = strconv.Atoi(v)
	case *int64:
		*p, err = strconv.ParseInt(v, 10, 64)
	case *float64:
		*p, err = strconv.ParseFloat(v, 64)
	case *bool:
		*p, err = strconv.ParseBool(v)
	case *time.Duration:
		*p, err = time.ParseDuration(v)
	case *[]string:
		*p = nil
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				*p = append(*p, x)
			}
		}
	}
	if err != nil {
		return problem("invalidValue", "setting %[1]s: %[2]q is not a valid value: %[3]s", s.Key, v, err)
	}
	return nil
}

// Settings lists every scalar setting of c. (Tokens are a YAML list; see the README.)
func (c *Config) Settings() []Setting {
	return []Setting{
		{"listen", "HTTP address of the intake, the pages, the admin API, /healthz and /readyz (public)", &c.Listen},
		{"public_url", "URL at which Bitrix24 and browsers reach Signet (default http://<listen>)", &c.PublicURL},
		{"data_dir", "directory for the embedded NATS store, local storage and the demo token", &c.DataDir},
		{"log.format", "auto (readable on a terminal, JSON otherwise), json or console", &c.Log.Format},
		{"log.level", "debug, info, warn or error", &c.Log.Level},
		{"nats.url", "NATS servers (comma-separated); empty starts an embedded nats-server with JetStream", &c.NATS.URL},
		{"nats.creds_file", "NATS credentials file for a secured cluster", &c.NATS.CredsFile},
		{"nats.user", "NATS user name (with nats.password_file) for a secured cluster", &c.NATS.User},
		{"nats.password_file", "file holding the NATS password of nats.user", &c.NATS.PasswordFile},
		{"nats.tls_ca_file", "CA certificate(s) that signed the NATS servers' certificates (PEM); setting it requires TLS", &c.NATS.TLSCAFile},
		{"nats.tls_cert_file", "this process's client certificate for NATS (PEM), when the servers verify clients", &c.NATS.TLSCertFile},
		{"nats.tls_key_file", "the private key of nats.tls_cert_file (PEM, mode 0600)", &c.NATS.TLSKeyFile},
		{"nats.replicas", "replicas of every stream and KV bucket (3 on a three-node cluster)", &c.NATS.Replicas},
		{"nats.provision", "create and update the streams, consumers, buckets and S3 lifecycle rule at server start (false: only `signet setup` or the one owner process does)", &c.NATS.Provision},
		{"nats.sync_always", "embedded server: fsync every JetStream write (no loss window on power failure, slower)", &c.NATS.SyncAlways},
		{"nats.port", "embedded server: client port (-1 picks a free one)", &c.NATS.Port},
		{"nats.monitor_port", "embedded server: monitoring port for /jsz and /healthz (0 = off)", &c.NATS.MonitorPort},
		{"storage.url", "file:///path or s3://bucket/prefix?endpoint=…; empty = file://<data_dir>/artefacts", &c.Storage.URL},
		{"storage.retention", "how long signed artefacts are kept", &c.Storage.Retention},
		{"storage.link_ttl", "validity of download links returned to Bitrix24 (at most 168h, S3's limit)", &c.Storage.LinkTTL},
		{"storage.credentials_file", "file of SIGNET_S3_ACCESS_KEY=… and SIGNET_S3_SECRET_KEY=… lines (empty: those environment variables)", &c.Storage.CredentialsFile},
		{"mail.smtp_host", "SMTP server (host:port) that sends enrolment links by e-mail (empty: no e-mail)", &c.Mail.SMTPHost},
		{"mail.from", "sender address of Signet's e-mail, e.g. Signet <signet@example.com>", &c.Mail.From},
		{"mail.tls", "starttls (port 587), tls (port 465) or none (a server on this host only)", &c.Mail.TLS},
		{"mail.credentials_file", "file of SIGNET_MAIL_USER=… and SIGNET_MAIL_PASSWORD=… lines (empty: no SMTP authentication)", &c.Mail.CredentialsFile},
		{"worker.interactive", "concurrent jobs from robots and the Sign button", &c.Worker.Interactive},
		{"worker.batch", "concurrent jobs from bulk batches", &c.Worker.Batch},
		{"worker.callbacks", "callbacks in hand at once; their REST commands share batch requests, so 25–64 keeps batches full (at most 64)", &c.Worker.Callbacks},
		{"worker.ack_wait", "JetStream AckWait; in-progress acks are sent every third of it while a job runs", &c.Worker.AckWait},
		{"worker.max_deliver", "deliveries of a job, attempts of a callback (waiting for a paused portal is none), before it goes to DEAD", &c.Worker.MaxDeliver},
		{"worker.max_ack_pending", "messages handed out but not yet acked, per consumer, across all worker processes (0: 4 × this process's interactive + batch + callbacks); set it to about 2 × the concurrency of all workers together", &c.Worker.MaxAckPending},
		{"worker.max_pdf_bytes", "largest PDF accepted for signing", &c.Worker.MaxPDFBytes},
		{"worker.temp_dir", "where PDFs are staged while being signed (default: the system's)", &c.Worker.TempDir},
		{"http.read_header_timeout", "time a client has to send a request's headers", &c.HTTP.ReadHeaderTimeout},
		{"http.read_timeout", "time a client has to send a whole request (a /verify upload has more while it keeps arriving at verify.min_upload_rate)", &c.HTTP.ReadTimeout},
		{"http.write_timeout", "time to answer a request, from the end of its headers", &c.HTTP.WriteTimeout},
		{"http.idle_timeout", "how long an idle keep-alive connection stays open", &c.HTTP.IdleTimeout},
		{"http.max_header_bytes", "largest request header block", &c.HTTP.MaxHeaderBytes},
		{"http.trusted_proxies", "reverse proxies (IP or CIDR, comma-separated) whose X-Forwarded-For names the client for per-client limits; empty: the peer address is the client", &c.HTTP.TrustedProxies},
		{"metrics.listen", "HTTP address of /metrics and the detailed /readyz, apart from the public listener (off or empty: none; a non-loopback address wants metrics.token_file)", &c.Metrics.Listen},
		{"metrics.token_file", "file holding the bearer token Prometheus must send to metrics.listen (empty = none, for a loopback listener)", &c.Metrics.TokenFile},
		{"verify.per_client", "uploads one client address may have in progress on /verify", &c.Verify.PerClient},
		{"verify.rate_per_minute", "uploads one client address may start on /verify per minute", &c.Verify.RatePerMinute},
		{"verify.burst", "uploads one client address may start at once on /verify", &c.Verify.Burst},
		{"verify.uploads", "uploads in progress on /verify from everyone (each a temporary file)", &c.Verify.Uploads},
		{"verify.concurrency", "verifications running at once on /verify", &c.Verify.Concurrency},
		{"verify.trust_anchors", "PEM file of the root certificates /verify trusts, as signet verify --trust does; empty: the system's roots (Signet's own certificates are not trusted by themselves)", &c.Verify.TrustAnchors},
		{"verify.min_upload_rate", "slowest average rate (bytes/s) of a /verify upload, after 15 s of grace; a slower one is cut off (408)", &c.Verify.MinUploadRate},
		{"pdf.max_stream_bytes", "most one object or cross-reference stream of a PDF may decode to", &c.PDF.MaxStreamBytes},
		{"pdf.max_document_bytes", "most one PDF may decode to: its structure streams and parsed objects when signed or verified, every stream but images when a self-proving page is added", &c.PDF.MaxDocumentBytes},
		{"pdf.max_objects", "most objects a PDF may list in its cross-reference sections", &c.PDF.MaxObjects},
		{"pdf.decode_budget", "decoded bytes held at once by every PDF being read in the process (signing and /verify)", &c.PDF.DecodeBudget},
		{"bitrix24.client_id", "OAuth client_id of the Signet local application", &c.Bitrix24.ClientID},
		{"bitrix24.client_secret_file", "file holding the application's client_secret", &c.Bitrix24.ClientSecretFile},
		{"bitrix24.oauth_url", "Bitrix24 OAuth server", &c.Bitrix24.OAuthURL},
		{"bitrix24.portals", "portal domains allowed to install Signet (comma-separated): the initial set, added at each intake start; add and remove more at run time with `signet admin bitrix24 add` and `remove`", &c.Bitrix24.Portals},
		{"bitrix24.allow_private", "allow portals on private or loopback addresses (on-premise)", &c.Bitrix24.AllowPrivate},
		{"bitrix24.rate_per_sec", "REST calls per second per portal, every Signet process together (5 for Enterprise plans)", &c.Bitrix24.RatePerSec},
		{"bitrix24.burst", "REST call burst per portal, every Signet process together (250 for Enterprise plans)", &c.Bitrix24.Burst},
		{"bitrix24.overload_pause", "how long every Signet process stops calling a portal that answered OVERLOAD_LIMIT (blocked by Bitrix24 support); its callbacks wait", &c.Bitrix24.OverloadPause},
		{"bitrix24.robot_code", "CODE of the robot registered in Bitrix24", &c.Bitrix24.RobotCode},
		{"bitrix24.link_field", "CRM item field (as crm.item.* names it) where the bulk link-only mode writes the link to the signed PDF: a String or Link user field the portal administrator creates (deals: UF_CRM_SIGNET_LINK is ufCrmSignetLink)", &c.Bitrix24.LinkField},
		{"bitrix24.status_field", "CRM item field where the bulk link-only mode writes who signed and when: a String user field the portal administrator creates; empty writes no status", &c.Bitrix24.StatusField},
		{"bitrix24.route_date_field", "CRM item field (as crm.item.* names it) where a signing route writes when it completed: a Date/Time user field the portal administrator creates (deals: UF_CRM_SIGNET_SIGNED_AT is ufCrmSignetSignedAt); empty writes no date", &c.Bitrix24.RouteDateField},
		{"bitrix24.route_status_field", "CRM item field where a signing route writes how it ended (completed, declined, cancelled, expired, failed): a String user field the portal administrator creates; empty writes no status", &c.Bitrix24.RouteStatusField},
		{"bitrix24.route_folder", "Disk folder on the company drive under which a completed route's signatures (.p7s) and signing reports are filed, by year, month and deal; empty files nothing", &c.Bitrix24.RouteFolder},
		{"bitrix24.webhook_url_file", "file holding an incoming-webhook URL (https://portal/rest/<user>/<code>/) for on-premise portals without the app; no robot or Sign button then", &c.Bitrix24.WebhookURLFile},
		{"requests.deadline", "how long a request to sign waits for its signer when the robot names no deadline; then the robot completes with outcome expired (at most 2160h)", &c.Requests.Deadline},
		{"requests.sweep_interval", "how often the intake ends the requests to sign past their deadline", &c.Requests.SweepInterval},
		{"external.seal_credential", "key URI of the company's seal, with which Signet signs for an external party who confirmed by link and code (empty: no external signers)", &c.External.SealCredential},
		{"external.link_ttl", "how long an external signer's link holds", &c.External.LinkTTL},
		{"external.code_attempts", "wrong codes after which an external signer's invitation locks for good", &c.External.CodeAttempts},
		{"external.sms_provider", "SMS provider of external signers' links and codes: smsru, or empty for e-mail only", &c.External.SMSProvider},
		{"external.sms_url", "the SMS provider's send URL (empty: its documented one)", &c.External.SMSURL},
		{"external.sms_credentials_file", "file with the SMS provider's key, a SIGNET_SMS_API_ID=… line for smsru", &c.External.SMSCredentialsFile},
		{"external.sms_from", "sender name the SMS provider approved (empty: its default)", &c.External.SMSFrom},
		{"routes.final_link_ttl", "how long the link to a completed route's final document holds (mailed to every party with an e-mail, told to the originator)", &c.Routes.FinalLinkTTL},
		{"routes.delete_after", "delete an ended route's files (every revision and the certificate of completion) this long after it ended; the sweeper records it in the audit trail (0: keep them)", &c.Routes.DeleteAfter},
		{"security.secret_keys_file", "file of id:base64 AES-256 keys encrypting secrets at rest (default <data_dir>/secret.keys, created on first run)", &c.Security.SecretKeysFile},
		{"security.admin_token_file", "file holding the bearer token of the admin API (default <data_dir>/admin.token, created on first run)", &c.Security.AdminTokenFile},
		{"security.admin_passwords_file", "local administrators of the /admin control panel, LOGIN:Argon2id hash lines written by `signet admin local-admin set` (default <data_dir>/admin.passwords)", &c.Security.AdminPasswordsFile},
		{"security.job_signing_key_file", "Ed25519 private key (PKCS#8 PEM) with which the intake and `signet enqueue` sign each job's authorisation; intake hosts only (default <data_dir>/job-signing.key, created on first run when the verification file is also default)", &c.Security.JobSigningKeyFile},
		{"security.job_verify_keys_file", "PEM public keys whose job signatures workers accept; several during a rotation (default <data_dir>/job-verify.pem)", &c.Security.JobVerifyKeysFile},
		{"security.job_ttl", "how long a queued job's authorisation stays valid; a job still waiting then is refused and its workflow told", &c.Security.JobTTL},
		{"security.login_max_failures", "wrong control-panel passwords in a row for one login before it is locked for security.login_lockout (counted before hashing)", &c.Security.LoginMaxFailures},
		{"security.login_lockout", "how long a login or a client address stays locked after too many wrong passwords", &c.Security.LoginLockout},
		{"security.login_max_per_address", "wrong passwords from one client address, any logins, within security.login_lockout before the address is locked (0 = off; behind a reverse proxy list it in http.trusted_proxies)", &c.Security.LoginMaxPerAddress},
		{"security.login_concurrent_hashes", "control-panel password checks (Argon2id, 64 MiB each) running at once per process; a sign-in beyond them is answered 503", &c.Security.LoginConcurrentHashes},
		{"audit.credential", "key URI of the service key that signs audit checkpoints (default: demo.credential when no tokens are configured; empty: no checkpoints)", &c.Audit.Credential},
		{"audit.checkpoint_every", "a signed checkpoint of the audit chain after this many events", &c.Audit.CheckpointEvery},
		{"audit.checkpoint_interval", "and at least this often while events come", &c.Audit.CheckpointInterval},
		{"signing.tsa_url", "RFC 3161 timestamp authority (http or https URL, no credentials in it) that adds a signature timestamp to every signature (PAdES B-T); empty: none", &c.Signing.TSAURL},
		{"signing.level", "PAdES level of every signature: b, t (needs signing.tsa_url), lt (also the chain's OCSP responses or CRLs, fetched from the certificates' addresses) or lta (and a document timestamp; needs signing.tsa_url); empty: t with signing.tsa_url, else b", &c.Signing.Level},
		{"signing.time_zone", "IANA time zone (Europe/Moscow) of the time on the visible stamp and the certificate of completion when the signer's Bitrix24 TIME_ZONE is not known; the signature's own time stays UTC", &c.Signing.TimeZone},
		{"ca.revocation_url", "base URL written into the certificates the internal CA issues, where its CRL (<url>/ca/crl/<CA key id>) and OCSP responder (<url>/ca/ocsp) answer (default public_url; off: none, when verifiers cannot reach Signet — NSS readers such as pdfsig refuse a certificate whose OCSP responder does not answer)", &c.CA.RevocationURL},
		{"archive.schedule", "how often the worker renews the archive: stored signed documents whose last timestamp's TSA certificate expires within archive.renew_before, or whose algorithms weakened, get a new PAdES B-LTA revision beside the old one (0: off; needs signing.tsa_url)", &c.Archive.Schedule},
		{"archive.renew_before", "renew a stored document when the certificate protecting it (its last timestamp's TSA, or its signer's when it has no timestamp) expires within this (`signet archive status` shows when)", &c.Archive.RenewBefore},
		{"demo.token", "label of the SoftHSM token created under <data_dir>/softhsm when no tokens are configured", &c.Demo.Token},
		{"demo.credential", "key URI used by `signet demo` and the demo user", &c.Demo.Credential},
	}
}

// Load builds the configuration for a command: defaults, the YAML file named by --config or
// SIGNET_CONFIG, the environment, then the flags in args. It returns the arguments left after the flags.
func Load(name string, args []string, getenv func(string) string) (*Config, []string, error) {
	return LoadFlags(flag.NewFlagSet(name, flag.ContinueOnError), args, getenv)
}

// LoadFlags is Load on the caller's flag set, which may hold flags of its own and says where --help
// and flag errors are written.
func LoadFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, []string, error) {
	c := Defaults()
	file := fs.String("config", getenv("SIGNET_CONFIG"), "YAML configuration file")
	settings := c.Settings()
	for _, s := range Defaults().Settings() {
		s.Define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return nil, nil, problem("fileRead", "configuration file: %[1]s", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, problem("file", "configuration file %[1]s: %[2]s", *file, yamlProblem(err))
		}
	}
	for _, s := range settings {
		if v := getenv(s.Env()); v != "" {
			if err := s.set(v); err != nil {
				return nil, nil, problem("named", "%[1]s: %[2]s", s.Env(), err)
			}
		}
	}
	// Only the flags given on the command line override: a flag's default is the embedded one, which
	// the file and the environment have already overridden.
	byFlag := map[string]Setting{}
	for _, s := range settings {
		byFlag[s.Flag()] = s
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		if s, ok := byFlag[f.Name]; ok && flagErr == nil {
			if err := s.set(f.Value.String()); err != nil {
				flagErr = problem("named", "%[1]s: %[2]s", "--"+s.Flag(), err)
			}
		}
	})
	if flagErr != nil {
		return nil, nil, flagErr
	}
	c.fill()
	return c, fs.Args(), c.Validate()
}

// unknownKey is yaml.v3's message for a key that is no setting, which goes on to print the Go struct.
var unknownKey = regexp.MustCompile(`field (\S+) not found in type (struct \{[^}]*\}|[\w.]+)`)

// yamlProblem words a YAML error for the person who wrote the file: "line 2: unknown key ur; line 3: …".
func yamlProblem(err error) []i18n.Message {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")
	var lines []i18n.Message
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		// An unknown key is Signet's to word; the parser's other words are its own, in English.
		if m := unknownKey.FindStringSubmatchIndex(l); m != nil {
			lines = append(lines, say("unknownKey", "%[1]sunknown key %[2]s (`signet config` lists every setting)%[3]s", l[:m[0]], l[m[2]:m[3]], l[m[1]:]))
		} else {
			lines = append(lines, i18n.Plain(l))
		}
	}
	return lines
}

// Define registers the setting on fs as a flag of its own type, bound to the setting's value: a bool
// setting is a bool flag (`--nats-sync-always` alone sets it), a duration a duration, a number a
// number, so a wrong value is refused while parsing, naming the flag (issue 16, must 6). Call it on a
// scratch Config's settings (Defaults().Settings()): the flag's default is the value the setting has.
func (s Setting) Define(fs *flag.FlagSet) {
	// flag.PrintDefaults takes a `quoted` word of the usage as the value's name; the help quotes
	// commands that way for the README, so the flag shows them with plain quotes.
	usage := strings.ReplaceAll(s.Help, "`", "'") + " (env " + s.Env() + ")"
	switch p := s.ptr.(type) {
	case *string:
		fs.StringVar(p, s.Flag(), *p, usage)
	case *int:
		fs.IntVar(p, s.Flag(), *p, usage)
	case *int64:
		fs.Int64Var(p, s.Flag(), *p, usage)
	case *float64:
		fs.Float64Var(p, s.Flag(), *p, usage)
	case *bool:
		fs.BoolVar(p, s.Flag(), *p, usage)
	case *time.Duration:
		fs.DurationVar(p, s.Flag(), *p, usage)
	case *[]string:
		fs.Var(listValue{s}, s.Flag(), usage+" (comma-separated)")
	default:
		panic("config: setting " + s.Key + " has a type Define does not know")
	}
}

// listValue is a comma-separated list setting as a flag.
type listValue struct{ s Setting }

func (v listValue) String() string {
	if v.s.ptr == nil {
		return ""
	}
	return v.s.Value()
}
func (v listValue) Set(x string) error { return v.s.set(x) }

// fill derives the settings whose defaults depend on others.
func (c *Config) fill() {
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.CA.RevocationURL == "" {
		c.CA.RevocationURL = c.PublicURL
	}
	c.CA.RevocationURL = strings.TrimRight(c.CA.RevocationURL, "/")
	// "off" is how a flag or an environment variable, which cannot be empty, turns metrics off.
	if c.Metrics.Listen == "off" {
		c.Metrics.Listen = ""
	}
	if c.Storage.URL == "" {
		abs, err := filepath.Abs(filepath.Join(c.DataDir, "artefacts"))
		if err != nil {
			abs = filepath.Join(c.DataDir, "artefacts")
		}
		c.Storage.URL = "file://" + abs
	}
	if c.Audit.Credential == "" && len(c.Tokens) == 0 {
		c.Audit.Credential = c.Demo.Credential
	}
	if c.Security.SecretKeysFile == "" {
		c.Security.SecretKeysFile = filepath.Join(c.DataDir, "secret.keys")
	}
	if c.Security.AdminTokenFile == "" {
		c.Security.AdminTokenFile = filepath.Join(c.DataDir, "admin.token")
	}
	if c.Security.AdminPasswordsFile == "" {
		c.Security.AdminPasswordsFile = filepath.Join(c.DataDir, "admin.passwords")
	}
	if c.Security.JobSigningKeyFile == "" {
		c.Security.JobSigningKeyFile = filepath.Join(c.DataDir, "job-signing.key")
	}
	if c.Security.JobVerifyKeysFile == "" {
		c.Security.JobVerifyKeysFile = filepath.Join(c.DataDir, "job-verify.pem")
	}
}

// Validate refuses settings that cannot work, saying which and why.
func (c *Config) Validate() error {
	var errs []error
	if c.Mail.TLS != "starttls" && c.Mail.TLS != "tls" && c.Mail.TLS != "none" {
		errs = append(errs, problem("mailTLS", "mail.tls %[1]q: use starttls, tls or none", c.Mail.TLS))
	}
	if c.Mail.SMTPHost != "" && c.Mail.From == "" {
		errs = append(errs, problem("mailFrom", "mail.smtp_host is set without mail.from: set the sender address"))
	}
	if c.Storage.LinkTTL > 7*24*time.Hour || c.Storage.LinkTTL <= 0 {
		errs = append(errs, problem("linkTTL", "storage.link_ttl %[1]s: download links are valid between 1s and 168h (S3 presigned URL limit)", c.Storage.LinkTTL))
	}
	if c.Worker.Interactive < 1 || c.Worker.Batch < 1 || c.Worker.Callbacks < 1 {
		errs = append(errs, problem("workersMin", "worker.interactive, worker.batch and worker.callbacks must be at least 1"))
	}
	if c.Worker.Interactive > 64 || c.Worker.Batch > 64 || c.Worker.Callbacks > 64 {
		// A pull request asks for as many messages as the pool works on; JetStream's MaxRequestBatch for
		// Signet's consumers is 64, and a larger request is silently never answered.
		errs = append(errs, problem("workersMax", "worker.interactive, worker.batch and worker.callbacks must be at most 64 (JetStream pull batch limit); run more worker processes instead"))
	}
	if c.Worker.MaxAckPending < 0 {
		errs = append(errs, problem("maxAckPending", "worker.max_ack_pending %[1]s: use 0 (derived) or a positive number", c.Worker.MaxAckPending))
	}
	if c.Worker.AckWait < time.Second {
		errs = append(errs, problem("ackWait", "worker.ack_wait %[1]s is too short; use at least 1s", c.Worker.AckWait))
	}
	switch c.Signing.Level {
	case "", "b", "lt":
	case "t", "lta":
		if c.Signing.TSAURL == "" {
			errs = append(errs, problem("levelNeedsTSA", "signing.level %[1]s adds a timestamp: set signing.tsa_url", c.Signing.Level))
		}
	default:
		errs = append(errs, problem("level", "signing.level %[1]q: use b, t, lt or lta", c.Signing.Level))
	}
	if c.Signing.Level == "b" && c.Signing.TSAURL != "" {
		errs = append(errs, problem("levelB", "signing.level b and signing.tsa_url contradict each other: a timestamp makes it B-T (empty the level, or set it to t)"))
	}
	for _, u := range []struct{ name, v string }{{"signing.tsa_url", c.Signing.TSAURL}, {"ca.revocation_url", c.CA.RevocationURL}} {
		if err := plainHTTPURL(u.v); err != nil && !(u.name == "ca.revocation_url" && u.v == "off") {
			errs = append(errs, problem("named", "%[1]s: %[2]s", u.name, err))
		}
	}
	if c.Archive.Schedule < 0 || (c.Archive.Schedule > 0 && c.Archive.Schedule < time.Hour) {
		errs = append(errs, problem("archiveSchedule", "archive.schedule %[1]s: use 0 (off) or at least 1h (24h is usual): each run reads every stored document", c.Archive.Schedule))
	}
	if c.Archive.Schedule > 0 && c.Signing.TSAURL == "" {
		errs = append(errs, problem("archiveNeedsTSA", "archive.schedule needs signing.tsa_url: a renewal adds a document timestamp from that authority"))
	}
	if c.Archive.RenewBefore <= 0 {
		errs = append(errs, problem("renewBefore", "archive.renew_before %[1]s: use a positive duration (8760h, a year, is the default)", c.Archive.RenewBefore))
	}
	if c.Requests.Deadline <= 0 || c.Requests.Deadline > 2160*time.Hour {
		errs = append(errs, problem("deadline", "requests.deadline: %[1]s; give a duration from 1s to 2160h (90 days)", c.Requests.Deadline))
	}
	if sc := c.External.SealCredential; sc != "" && (!strings.HasPrefix(sc, "pkcs11:") || strings.Contains(sc, "pin-value")) {
		errs = append(errs, problem("externalSealCredential", "external.seal_credential: give the seal's key URI (pkcs11:token=…;object=…) without a PIN; the PIN comes from the token's pin source"))
	}
	if c.External.LinkTTL <= 0 {
		errs = append(errs, problem("externalLinkTTL", "external.link_ttl: %[1]s; give a positive duration such as 336h (14 days)", c.External.LinkTTL))
	}
	if c.External.CodeAttempts < 1 || c.External.CodeAttempts > 10 {
		errs = append(errs, problem("externalCodeAttempts", "external.code_attempts: %[1]s; give 1 to 10 (each wrong code is a guess at a 6-digit code)", c.External.CodeAttempts))
	}
	if p := c.External.SMSProvider; p != "" && p != "smsru" {
		errs = append(errs, problem("externalSmsProvider", "external.sms_provider %[1]q: use smsru, or leave it empty for e-mail only", p))
	}
	if c.Requests.SweepInterval <= 0 {
		errs = append(errs, problem("sweepInterval", "requests.sweep_interval: %[1]s; give a positive duration such as 1m", c.Requests.SweepInterval))
	}
	if _, err := i18n.LoadZone(c.Signing.TimeZone); err != nil {
		errs = append(errs, problem("timeZone", "signing.time_zone: %[1]s", err))
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		errs = append(errs, problem("replicas", "nats.replicas %[1]s: JetStream allows 1 to 5", c.NATS.Replicas))
	}
	if c.Security.JobTTL < time.Minute {
		errs = append(errs, problem("jobTTL", "security.job_ttl %[1]s: use at least 1m (24h, the duplicate window, is the default)", c.Security.JobTTL))
	}
	if err := c.checkLogin(); err != nil {
		errs = append(errs, err)
	}
	if (c.NATS.User == "") != (c.NATS.PasswordFile == "") {
		errs = append(errs, problem("natsUser", "nats.user and nats.password_file go together (the password is never a setting value)"))
	}
	if c.NATS.User != "" && c.NATS.CredsFile != "" {
		errs = append(errs, problem("natsCreds", "give nats.creds_file or nats.user with nats.password_file, not both"))
	}
	if (c.NATS.TLSCertFile == "") != (c.NATS.TLSKeyFile == "") {
		errs = append(errs, problem("natsTLS", "nats.tls_cert_file and nats.tls_key_file go together"))
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.IdleTimeout <= 0 {
		errs = append(errs, problem("httpTimeouts", "http.read_header_timeout, http.read_timeout, http.write_timeout and http.idle_timeout must be positive: a server without them is held by slow clients"))
	}
	if c.HTTP.MaxHeaderBytes < 4<<10 {
		errs = append(errs, problem("maxHeaderBytes", "http.max_header_bytes %[1]s: use at least 4096", c.HTTP.MaxHeaderBytes))
	}
	if _, err := c.TrustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if err := c.checkMetrics(); err != nil {
		errs = append(errs, err)
	}
	if c.Verify.PerClient < 1 || c.Verify.Burst < 1 || c.Verify.Uploads < 1 || c.Verify.Concurrency < 1 || c.Verify.RatePerMinute <= 0 || c.Verify.MinUploadRate < 1<<10 {
		errs = append(errs, problem("verifyLimits", "verify.per_client, verify.burst, verify.uploads, verify.concurrency and verify.rate_per_minute must be positive, verify.min_upload_rate at least 1024"))
	}
	if c.PDF.MaxStreamBytes < 1<<20 || c.PDF.MaxDocumentBytes < c.PDF.MaxStreamBytes || c.PDF.DecodeBudget < c.PDF.MaxDocumentBytes || c.PDF.MaxObjects < 1000 {
		errs = append(errs, problem("pdfLimits", "pdf limits: want 1 MiB <= pdf.max_stream_bytes <= pdf.max_document_bytes <= pdf.decode_budget, and pdf.max_objects >= 1000"))
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		errs = append(errs, problem("logFormat", "log.format %[1]q: use auto, json or console", c.Log.Format))
	}
	for i, t := range c.Tokens {
		if t.Module == "" {
			errs = append(errs, problem("tokenModule", "tokens[%[1]s] (%[2]s): no PKCS#11 module path", i, t.Name))
		}
		if (t.PinFile == "") == (t.PinEnv == "") {
			errs = append(errs, problem("tokenPIN", "tokens[%[1]s] (%[2]s): give exactly one of pin_file and pin_env (a PIN is never a setting value)", i, t.Name))
		}
		if t.Concurrency < 0 || t.RatePerSec < 0 {
			errs = append(errs, problem("tokenLimits", "tokens[%[1]s] (%[2]s): concurrency and rate_per_sec must be 0 (automatic, no cap) or positive", i, t.Name))
		}
	}
	return errors.Join(errs...)
}

// AckPending is JetStream's MaxAckPending for each consumer: worker.max_ack_pending, or 4 × the sum
// of this process's pools. It bounds the messages in workers' hands and buffers across the cluster,
// so it must be at least the concurrency of all workers together or some of them idle.
func (c *Config) AckPending() int {
	if c.Worker.MaxAckPending > 0 {
		return c.Worker.MaxAckPending
	}
	return 4 * (c.Worker.Interactive + c.Worker.Batch + c.Worker.Callbacks)
}

// checkMetrics refuses a metrics listener that is not an address or shares the public one: /metrics
// on the public listener is what issue 15 (must 9) moved away from.
func (c *Config) checkMetrics() error {
	m := c.Metrics
	if m.Listen == "" {
		if m.TokenFile != "" {
			return problem("metricsToken", "metrics.token_file is set but metrics.listen is empty (metrics off): set both, or neither")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(m.Listen); err != nil {
		return problem("metricsListen", "metrics.listen %[1]q: want host:port, e.g. 127.0.0.1:9464 (empty turns metrics off)", m.Listen)
	}
	if m.Listen == c.Listen {
		return problem("metricsPublic", "metrics.listen %[1]s is the public listener's address: give /metrics its own (e.g. 127.0.0.1:9464)", m.Listen)
	}
	return nil
}

// MetricsLoopback says whether metrics.listen takes connections from this machine only.
func (c *Config) MetricsLoopback() bool {
	host, _, err := net.SplitHostPort(c.Metrics.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// TrustedProxies parses http.trusted_proxies: addresses or CIDR prefixes.
func (c *Config) TrustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range c.HTTP.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, problem("trustedProxies", "http.trusted_proxies: %[1]q is neither an IP address nor a CIDR prefix", p)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// CheckServiceURL is the rule of signing.tsa_url for a URL given elsewhere (signet sign --tsa).
func CheckServiceURL(v string) error { return plainHTTPURL(v) }

// plainHTTPURL accepts an empty setting or an http(s) URL without credentials: the timestamp
// authority's and the revocation URLs are shown in errors and written into certificates, and secrets
// never go into URLs (common rules).
func plainHTTPURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err == nil && u.User != nil {
		return problem("urlSecret", "the URL carries a user name or password; secrets never go into URLs: use an authority that needs none, or a local proxy that adds them")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return problem("urlScheme", "not an http:// or https:// URL") // not repeated: it might hold a secret
	}
	return nil
}
