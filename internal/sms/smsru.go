package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SMSRuURL is SMS.ru's documented send method (https://sms.ru/api/send): a POST of api_id, to, msg
// and json=1, answered with JSON.
const SMSRuURL = "https://sms.ru/sms/send"

// SMSRu sends through SMS.ru. The api_id travels in the POST body, never in the URL, so that no proxy
// or access log sees it; an error never repeats it.
type SMSRu struct {
	APIID  string
	URL    string // "" is SMSRuURL; tests point it at their own server
	From   string
	Client *http.Client
}

// Name implements Provider.
func (p *SMSRu) Name() string { return "smsru" }

// smsruAnswer is the JSON answer (https://sms.ru/api/send, json=1): status "OK" or "ERROR", a
// status_code (100 is accepted) and per number the same.
type smsruAnswer struct {
	Status     string `json:"status"`
	StatusCode int    `json:"status_code"`
	StatusText string `json:"status_text"`
	SMS        map[string]struct {
		Status     string `json:"status"`
		StatusCode int    `json:"status_code"`
		StatusText string `json:"status_text"`
		SMSID      string `json:"sms_id"`
	} `json:"sms"`
}

// Send implements Provider.
func (p *SMSRu) Send(ctx context.Context, phone, text string) error {
	if !ValidPhone(phone) {
		return fmt.Errorf("%q is not a phone number in international form (+79991234567)", phone)
	}
	to := strings.TrimPrefix(phone, "+")
	form := url.Values{"api_id": {p.APIID}, "to": {to}, "msg": {text}, "json": {"1"}}
	if p.From != "" {
		form.Set("from", p.From)
	}
	u := p.URL
	if u == "" {
		u = SMSRuURL
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("SMS.ru: %w; check external.sms_url", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error names the URL only; the api_id is in the body.
		return fmt.Errorf("SMS.ru unreachable: %w; Signet tries again when the signer asks for a new code", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("SMS.ru answered HTTP %d; try again later", resp.StatusCode)
	}
	var a smsruAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("SMS.ru answered something that is not its JSON: %w", err)
	}
	if a.Status != "OK" || a.StatusCode != 100 {
		return fmt.Errorf("SMS.ru refused the message (code %d: %s); check external.sms_credentials_file and the account's balance",
			a.StatusCode, scrub(a.StatusText, p.APIID))
	}
	if n, ok := a.SMS[to]; ok && (n.Status != "OK" || n.StatusCode != 100) {
		return fmt.Errorf("SMS.ru refused the message to %s (code %d: %s)", phone, n.StatusCode, scrub(n.StatusText, p.APIID))
	}
	return nil
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "…")
}
