package ops

// Token is one PKCS#11 token's state as the dashboard and `signet status` show it.
type Token struct {
	Name          string
	Online        bool
	Err           string
	SessionsInUse int
	MaxSessions   int
}
