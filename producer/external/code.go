package external

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// The code the page asks for (issue 20, must 2): 6 random digits sent to the invitation's channel,
// valid CodeTTL; a new one replaces the last. Limits, all per invitation:
//   - DefaultMaxFailures wrong codes (external.code_attempts) lock the invitation for good: the
//     originator invites again. With 10^6 codes an attacker holding the link gets at most 5 guesses,
//     a chance of 5 in a million, and the party sees the invitation locked;
//   - a code at most every ResendInterval, and at most MaxCodes codes in all, so that the link
//     cannot be used to flood the party's phone or mailbox.
//
// The code is stored as an HMAC under the service's key, never in clear.

const (
	CodeTTL            = 5 * time.Minute
	ResendInterval     = time.Minute
	MaxCodes           = 5
	DefaultMaxFailures = 5
	codeDigits         = 6
)

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return fmt.Sprintf("%0*d", codeDigits, n.Int64())
}

func (s *Service) codeHash(id, code string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("signet-external-code\x00" + id + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// normaliseCode drops the spaces and dashes people type into a code.
func normaliseCode(s string) string {
	out := make([]byte, 0, codeDigits)
	for i := 0; i < len(s) && len(out) <= codeDigits; i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			out = append(out, c)
		case c == ' ' || c == '-':
		default:
			return ""
		}
	}
	if len(out) != codeDigits {
		return ""
	}
	return string(out)
}
