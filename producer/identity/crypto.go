package identity

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Keys holds the AES-256 keys that encrypt OTP secrets at rest, by key id. Several keys may be
// loaded so that they can be rotated: the last one listed (the newest) encrypts, any loaded one
// decrypts. Key bytes never leave this type: no method returns or prints them.
type Keys struct {
	order []string // load order; the last is the active (encrypting) key
	aeads map[string]cipher.AEAD
}

var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keyLineHowTo is the shell line that makes a valid key line. Signet has no key-generation
// command, so the errors point to the line docs/multihost.md uses.
const keyLineHowTo = `printf 'k1:%s\n' "$(openssl rand -base64 32)"`

// LoadKeys reads "id:base64key" lines (32-byte keys, standard or URL base64; blank lines and
// lines starting with # are ignored). fileOrValue is either a path to such a file or the lines
// themselves, e.g. the value of an environment variable: a string containing ':' that is not
// an existing file is taken as the value. The last line is the active key.
func LoadKeys(fileOrValue string) (*Keys, error) {
	text := fileOrValue
	src := "key value"
	if st, err := os.Stat(fileOrValue); err == nil && !st.IsDir() {
		b, err := os.ReadFile(fileOrValue)
		if err != nil {
			return nil, fmt.Errorf("reading OTP secret key file %s: %w", fileOrValue, err)
		}
		text, src = string(b), "key file "+fileOrValue
	} else if !strings.Contains(fileOrValue, ":") {
		// Not key lines (they always contain ':'), so it was meant as a file; naming it is safe.
		return nil, fmt.Errorf("OTP secret key file %q cannot be read (%v); create it with %s >> FILE (a new key needs a new id, e.g. k2): %w", fileOrValue, err, keyLineHowTo, ErrNoKeys)
	}
	k, err := parseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("OTP secret keys from %s: %w", src, err)
	}
	return k, nil
}

// parseKeys never quotes a line back: a malformed line may hold key material.
func parseKeys(text string) (*Keys, error) {
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || !keyIDRe.MatchString(id) {
			return nil, fmt.Errorf("line %d: want \"id:base64key\" with an id of letters, digits, '.', '_' or '-': %w", n, ErrKeyFormat)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("line %d (key id %q): want 32 bytes of base64 (AES-256); generate one with %s: %w", n, id, keyLineHowTo, ErrKeyFormat)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("line %d: key id %q appears twice; give each key its own id: %w", n, id, ErrKeyFormat)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d (key id %q): %w", n, id, ErrKeyFormat)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("line %d (key id %q): %w", n, id, ErrKeyFormat)
		}
		k.aeads[id] = aead
		k.order = append(k.order, id)
	}
	if len(k.order) == 0 {
		return nil, fmt.Errorf("no \"id:base64key\" lines; generate one with %s: %w", keyLineHowTo, ErrNoKeys)
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, ErrKeyFormat
}

// GenerateKeyLine returns a new "id:base64key" line with a fresh random AES-256 key. The id
// carries the UTC creation time, so appending the line to the key file makes it the newest.
func GenerateKeyLine() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating an OTP secret key: %w", err)
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("generating an OTP secret key: %w", err)
	}
	id := fmt.Sprintf("k%s-%x", time.Now().UTC().Format("20060102T150405Z"), suffix)
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// ActiveID is the id of the key new secrets are encrypted with.
func (k *Keys) ActiveID() string { return k.order[len(k.order)-1] }

// IDs lists the loaded key ids, oldest first.
func (k *Keys) IDs() []string { return append([]string(nil), k.order...) }

// sealed is a secret encrypted with AES-256-GCM under key KeyID; the key id lets a rotated-out
// key still decrypt what it wrote. AAD binds the ciphertext to its owner, so a ciphertext copied
// into another user's record does not decrypt.
type sealed struct {
	KeyID string `json:"kid"`
	Nonce []byte `json:"nonce"`
	Data  []byte `json:"ct"`
}

func (k *Keys) seal(plain []byte, aad string) (sealed, error) {
	id := k.ActiveID()
	aead := k.aeads[id]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return sealed{}, fmt.Errorf("encrypting OTP secret: %w", err)
	}
	return sealed{KeyID: id, Nonce: nonce, Data: aead.Seal(nil, nonce, plain, []byte(aad))}, nil
}

// open decrypts; its errors name the key id and the remedy, never the data.
func (k *Keys) open(s sealed, aad, owner string) ([]byte, error) {
	aead, ok := k.aeads[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("OTP secret of %q uses key id %q, which is not loaded (loaded: %s); add that key line back to the key file: %w",
			owner, s.KeyID, strings.Join(k.order, ", "), ErrKeyUnknown)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("OTP secret of %q is damaged (bad nonce); enrol the user again: %w", owner, ErrDecrypt)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Data, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("OTP secret of %q does not decrypt with key id %q: the key file holds a different key under that id, or the record was altered; restore the original key line or enrol the user again: %w",
			owner, s.KeyID, ErrDecrypt)
	}
	return plain, nil
}

// Seal encrypts plain under the active key for other secrets kept at rest (Bitrix24 portal tokens),
// bound to aad: a ciphertext copied under another aad (another portal) does not open. The result is
// self-describing JSON naming the key id, so key rotation works as for OTP secrets.
func (k *Keys) Seal(plain []byte, aad string) ([]byte, error) {
	s, err := k.seal(plain, aad)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Open reverses Seal. Its errors name the key id and the aad (never the data).
func (k *Keys) Open(data []byte, aad string) ([]byte, error) {
	var s sealed
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("sealed secret for %q is damaged (not JSON): %w", aad, ErrDecrypt)
	}
	aead, ok := k.aeads[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("sealed secret for %q uses key id %q, which is not loaded (loaded: %s); add that key line back to the key file: %w",
			aad, s.KeyID, strings.Join(k.order, ", "), ErrKeyUnknown)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("sealed secret for %q is damaged (bad nonce): %w", aad, ErrDecrypt)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Data, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("sealed secret for %q does not decrypt with key id %q: a different key under that id, or the record was altered: %w", aad, s.KeyID, ErrDecrypt)
	}
	return plain, nil
}
