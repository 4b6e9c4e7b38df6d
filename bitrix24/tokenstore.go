package bitrix24

import (
	"context"
	"fmt"
	"sync"
)

// MemoryTokenStore is a TokenStore in memory, for tests, the demo and single-process tools; tokens
// are lost on exit, so production uses a persistent store (KV).
type MemoryTokenStore struct {
	mu    sync.Mutex
	auths map[string]Auth
	saves int
}

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore { return &MemoryTokenStore{auths: map[string]Auth{}} }

// Load returns the Auth of memberID or an error wrapping ErrNoTokens.
func (s *MemoryTokenStore) Load(_ context.Context, memberID string) (Auth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auths[memberID]
	if !ok {
		return Auth{}, fmt.Errorf("%w %s", ErrNoTokens, memberID)
	}
	return a, nil
}

// Save replaces the Auth stored for a.MemberID.
func (s *MemoryTokenStore) Save(_ context.Context, a Auth) error {
	if a.MemberID == "" {
		return fmt.Errorf("bitrix24: refusing to save tokens without member_id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auths[a.MemberID] = a
	s.saves++
	return nil
}

// Saves counts Save calls (tests assert rotated tokens were persisted).
func (s *MemoryTokenStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}
