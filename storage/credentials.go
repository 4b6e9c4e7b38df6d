package storage

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// CredentialsSource says where the S3 access and secret key come from. They are looked up in this
// order, the first complete pair winning:
//
//  1. AccessKey/SecretKey set here (tests, or a caller that read them itself);
//  2. File: lines KEY=VALUE, keys SIGNET_S3_ACCESS_KEY / SIGNET_S3_SECRET_KEY (or access_key /
//     secret_key, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN); '#' comments;
//  3. environment SIGNET_S3_ACCESS_KEY / SIGNET_S3_SECRET_KEY;
//  4. environment AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
//
// Keys never come from the storage URL, so they cannot leak through a logged URL.
type CredentialsSource struct {
	AccessKey    string
	SecretKey    string
	SessionToken string
	File         string
}

// String never shows the secret.
func (c CredentialsSource) String() string {
	if c.File != "" {
		return "credentials from file " + c.File
	}
	return "credentials from options/environment"
}

type s3Creds struct{ access, secret, token string }

func (c CredentialsSource) resolve() (s3Creds, string, error) {
	if c.AccessKey != "" || c.SecretKey != "" {
		if c.AccessKey == "" || c.SecretKey == "" {
			return s3Creds{}, "", fmt.Errorf("storage: S3 credentials: only one of access key and secret key was set; set both")
		}
		return s3Creds{c.AccessKey, c.SecretKey, c.SessionToken}, "options", nil
	}
	if c.File != "" {
		kv, err := readKeyFile(c.File)
		if err != nil {
			return s3Creds{}, "", err
		}
		pick := func(names ...string) string {
			for _, n := range names {
				if v := kv[strings.ToLower(n)]; v != "" {
					return v
				}
			}
			return ""
		}
		cr := s3Creds{
			access: pick("SIGNET_S3_ACCESS_KEY", "access_key", "AWS_ACCESS_KEY_ID"),
			secret: pick("SIGNET_S3_SECRET_KEY", "secret_key", "AWS_SECRET_ACCESS_KEY"),
			token:  pick("AWS_SESSION_TOKEN", "session_token"),
		}
		if cr.access == "" || cr.secret == "" {
			return s3Creds{}, "", fmt.Errorf("storage: S3 credentials file %s must set SIGNET_S3_ACCESS_KEY and SIGNET_S3_SECRET_KEY", c.File)
		}
		return cr, "file " + c.File, nil
	}
	if a, s := os.Getenv("SIGNET_S3_ACCESS_KEY"), os.Getenv("SIGNET_S3_SECRET_KEY"); a != "" && s != "" {
		return s3Creds{a, s, ""}, "env SIGNET_S3_*", nil
	}
	if a, s := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); a != "" && s != "" {
		return s3Creds{a, s, os.Getenv("AWS_SESSION_TOKEN")}, "env AWS_*", nil
	}
	return s3Creds{}, "", fmt.Errorf("storage: no S3 credentials: set SIGNET_S3_ACCESS_KEY and SIGNET_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or a credentials file")
}

func readKeyFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("storage: cannot read S3 credentials file: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			// Report the line number only: the line may hold a secret.
			return nil, fmt.Errorf("storage: S3 credentials file %s line %d is not KEY=VALUE", path, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		kv[strings.ToLower(strings.TrimSpace(k))] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("storage: reading S3 credentials file %s: %w", path, err)
	}
	return kv, nil
}
