package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the schema version every message is written with.
const Version = 1

// ErrUnknownVersion: a message was written by a Signet that speaks a schema this one does not know.
var ErrUnknownVersion = errors.New("unknown message version")

// ErrInvalid: a message is missing a required field.
var ErrInvalid = errors.New("invalid message")

// decode reads a message, refusing versions other than Version before trusting any other field. The
// common case, a message of this version, is parsed once; anything else is parsed again for the
// version alone, so that the error names the version rather than a field that changed with it.
// version returns the V field of v after parsing.
func decode(kind string, data []byte, v any, version func() int) error {
	err := json.Unmarshal(data, v)
	if err == nil && version() == Version {
		return nil
	}
	var head struct {
		V *int `json:"v"`
	}
	if herr := json.Unmarshal(data, &head); herr != nil {
		return fmt.Errorf("%s: not a JSON message: %w", kind, herr)
	}
	if head.V == nil {
		return fmt.Errorf("%s: %w: the message has no version field \"v\"", kind, ErrUnknownVersion)
	}
	if *head.V != Version {
		return fmt.Errorf("%s: %w %d (this Signet understands version %d); upgrade the worker or drain the queue with the old one",
			kind, ErrUnknownVersion, *head.V, Version)
	}
	return fmt.Errorf("%s: %w", kind, err)
}
