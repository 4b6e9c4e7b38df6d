package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ID decodes an identifier that Bitrix24 sends sometimes as a number and sometimes as a string
// (reference §2); null and "" decode to 0.
type ID int64

func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*id = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*id = 0
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("bitrix24: id %q is not a number", s)
		}
		*id = ID(n)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("bitrix24: id %s is not an integer", b)
	}
	*id = ID(n)
	return nil
}
