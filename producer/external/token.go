package external

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// The link's token is "<invitation id>.<secret>": the id (16 hex digits) finds the invitation, the
// secret (32 random bytes, base64url without padding: 43 characters) proves the holder got the
// message. Only the secret's SHA-256 is stored, so the bucket's content opens no page; 256 random bits
// make guessing hopeless, and a wrong secret says no more than a wrong id (ErrNotFound for both).

const (
	idLen     = 16
	secretLen = 43
	// TokenLen is the length of every well-formed token.
	TokenLen = idLen + 1 + secretLen
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return b
}

func newID() string { return hex.EncodeToString(randomBytes(idLen / 2)) }

func newSecret() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func sameHash(stored, secret string) bool {
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(hashSecret(secret))) == 1
}

// ParseToken splits a link token (or a session cookie's value, which has the same form) into the
// invitation id and the secret; ok is false for anything that is not exactly that shape.
func ParseToken(tok string) (id, secret string, ok bool) {
	if len(tok) != TokenLen {
		return "", "", false
	}
	id, secret, ok = strings.Cut(tok, ".")
	if !ok || len(id) != idLen || len(secret) != secretLen {
		return "", "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return "", "", false
		}
	}
	return id, secret, true
}
