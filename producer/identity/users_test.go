package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const portal = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

func TestUserCRUD(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if us, err := f.svc.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty bucket = %v, %v", us, err)
	}
	if gs, err := f.svc.ListGrants(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("ListGrants on an empty bucket = %v, %v", gs, err)
	}
	u := User{Login: "Mary.Smith@example.com", Description: "Accountant", BitrixIDs: map[string]int{portal: 17}}
	if err := f.svc.AddUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddUser(ctx, User{Login: "mary.smith@example.com"}); !errors.Is(err, ErrUserExists) {
		t.Fatalf("same login in other case: %v", err)
	}
	for _, bad := range []string{"", " mary", "a/b", "x\ny"} {
		if err := f.svc.AddUser(ctx, User{Login: bad}); !errors.Is(err, ErrInvalidLogin) {
			t.Errorf("login %q: %v", bad, err)
		}
	}
	got, err := f.svc.GetUser(ctx, "mary.smith@example.com")
	if err != nil || got.Login != u.Login || got.Description != "Accountant" || got.Created.IsZero() || got.Enrolled {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	byID, err := f.svc.UserByBitrixID(ctx, portal, 17)
	if err != nil || byID.Login != u.Login {
		t.Fatalf("UserByBitrixID = %+v, %v", byID, err)
	}
	if _, err := f.svc.UserByBitrixID(ctx, portal, 18); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("unmapped Bitrix24 id: %v", err)
	}
	if err := f.svc.AddUser(ctx, User{Login: "ivan", BitrixIDs: map[string]int{portal: 17}}); !errors.Is(err, ErrBitrixIDTaken) {
		t.Fatalf("Bitrix24 id of another user: %v", err)
	}
	f.addUser(t, "ivan")

	// Moving the mapping: the old index entry must not find mary any more.
	if _, err := f.svc.UpdateUser(ctx, u.Login, func(u *User) error { u.BitrixIDs[portal] = 21; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UserByBitrixID(ctx, portal, 17); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("old mapping still resolves: %v", err)
	}
	if _, err := f.svc.UpdateUser(ctx, "ivan", func(u *User) error { u.BitrixIDs = map[string]int{portal: 17}; return nil }); err != nil {
		t.Fatalf("taking a freed Bitrix24 id: %v", err)
	}
	if byID, _ := f.svc.UserByBitrixID(ctx, portal, 17); byID == nil || byID.Login != "ivan" {
		t.Fatalf("freed id now maps to %+v", byID)
	}
	if _, err := f.svc.UpdateUser(ctx, "ivan", func(u *User) error { u.Login = "bob"; return nil }); !errors.Is(err, ErrInvalidLogin) {
		t.Fatalf("rename: %v", err)
	}
	list, err := f.svc.ListUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Login != "ivan" || list[1].Login != u.Login {
		t.Fatalf("ListUsers = %+v, %v", list, err)
	}

	f.enrol(t, "ivan")
	if err := f.svc.DeleteUser(ctx, "ivan"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GetUser(ctx, "ivan"); !errors.Is(err, ErrUserNotFound) || !strings.Contains(err.Error(), `"ivan"`) {
		t.Fatalf("deleted user: %v", err)
	}
	if _, err := f.svc.UserByBitrixID(ctx, portal, 17); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("deleted user's Bitrix24 id: %v", err)
	}
	// Re-added, the user starts without the old secret.
	f.addUser(t, "ivan")
	if got, _ := f.svc.GetUser(ctx, "ivan"); got.Enrolled {
		t.Fatal("re-added user kept the deleted user's OTP secret")
	}
	if err := f.svc.DeleteUser(ctx, "nobody"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("deleting an unknown user: %v", err)
	}
}

func TestUserByBitrixIDSurvivesMissingIndex(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, User{Login: "olga", BitrixIDs: map[string]int{portal: 5}}); err != nil {
		t.Fatal(err)
	}
	// As after a crash between writing the user and its index entry.
	if err := f.svc.users.Delete(ctx, bitrixKey(portal, 5)); err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.UserByBitrixID(ctx, portal, 5)
	if err != nil || u.Login != "olga" {
		t.Fatalf("UserByBitrixID without index = %+v, %v", u, err)
	}
}
