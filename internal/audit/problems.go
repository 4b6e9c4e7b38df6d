package audit

import "fmt"

// message is one wording of what Verify found: Key names it in the CLI's catalogue
// (cli.audit.problem.<Key>, internal/i18n/locales) and Format is its English, with indexed verbs so
// that a translation may order the values its own way.
type message struct{ Key, Format string }

// The wordings of Verify's problems; the English is the catalogue's.
var (
	msgFirstBefore      = message{"firstBefore", "the first event read is %[1]v; the walk was to start at %[2]v"}
	msgMissingBefore    = message{"missingBefore", "events %[1]v to %[2]v are missing (deleted) before event %[3]v"}
	msgFirstPrevHash    = message{"firstPrevHash", "the first event has prev_hash %[1]s; the chain starts with an empty one"}
	msgMissingAfter     = message{"missingAfter", "events %[1]v to %[2]v are missing (deleted or moved) after event %[3]v"}
	msgReordered        = message{"reordered", "event %[1]v follows event %[2]v; the chain was reordered or an event repeated"}
	msgBrokenLink       = message{"brokenLink", "prev_hash %[1]s is not the SHA-256 %[2]s of event %[3]v: event %[3]v or this one was edited"}
	msgNoSignature      = message{"noSignature", "a checkpoint without a signature"}
	msgNotBefore        = message{"notBefore", "the checkpoint signs event %[1]v (%[2]s), not the event before it"}
	msgUntrustedKey     = message{"untrustedKey", "signed by key %[1]s, which is not a trusted service key"}
	msgBadSignature     = message{"badSignature", "the signature over event %[1]v does not verify with key %[2]s"}
	msgTailDeleted      = message{"tailDeleted", "the stream holds messages up to sequence %[1]v but the last event in it is at %[2]v: the newest %[3]v were deleted"}
	msgUnreadable       = message{"unreadable", "%[1]s"}
	msgChainFirstPrev   = message{"chainFirstPrevHash", "the chain's first event has prev_hash %[1]s; a chain starts with an empty one"}
	msgChainBegins      = message{"chainBegins", "the chain begins at event %[1]v: its events 1 to %[2]v are missing (deleted or moved)"}
	msgChainMissing     = message{"chainMissing", "events %[1]v to %[2]v of the chain are missing (deleted or moved) after its event %[3]v"}
	msgChainReordered   = message{"chainReordered", "it follows the chain's event %[1]v; the chain was reordered or an event repeated"}
	msgChainBrokenLink  = message{"chainBrokenLink", "prev_hash %[1]s is not the SHA-256 %[2]s of the chain's event %[3]v: that event or this one was edited"}
	msgNoHead           = message{"noHead", "a checkpoint without its head"}
	msgChainNotHead     = message{"chainNotHead", "the checkpoint names event %[1]v (%[2]s) of its chain, not the chain's event before it"}
	msgPrevCheckpoint   = message{"prevCheckpoint", "the checkpoint names %[1]s as the checkpoint before it, but the one before it in the stream is %[2]s: a checkpoint was deleted, moved or edited"}
	msgSignatureRemoved = message{"signatureRemoved", "an unsigned checkpoint on a chain whose writer signed its earlier ones: its signature was removed"}
	msgInChain          = message{"inChain", "chain %[1]s, event %[2]v: "}
)

// problem makes the Problem of m with args; an event of a writer's chain is named by its chain.
func problem(seq uint64, chain string, chainSeq uint64, k ProblemKind, m message, args ...any) *Problem {
	p := &Problem{Seq: seq, Chain: chain, ChainSeq: chainSeq, Kind: k, Key: m.Key, Format: m.Format, Args: args,
		Detail: fmt.Sprintf(m.Format, args...)}
	if chain != "" {
		p.Detail = fmt.Sprintf(msgInChain.Format, chain, chainSeq) + p.Detail
	}
	return p
}
