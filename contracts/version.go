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

// decode reads a message, refusing versions other than Version before trusting any other field.
func decode(kind string, data []byte, v any) error {
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%s: not a JSON message: %w", kind, err)
	}
	if head.V == nil {
		return fmt.Errorf("%s: %w: the message has no version field \"v\"", kind, ErrUnknownVersion)
	}
	if *head.V != Version {
		return fmt.Errorf("%s: %w %d (this Signet understands version %d); upgrade the worker or drain the queue with the old one",
			kind, ErrUnknownVersion, *head.V, Version)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return nil
}
