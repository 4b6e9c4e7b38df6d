package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
)

// Robot property codes, as registered with bizproc.robot.add (see the README's robot contract).
const (
	PropDocument   = "document"   // Disk file id, deal file field code (UF_CRM_…), or a file URL on the portal
	PropSigner     = "signer"     // user_<ID>
	PropCredential = "credential" // PKCS#11 URI of the key
	PropOTP        = "otp"        // the signer's one-time password
	PropVisible    = "visible"    // Y/N
	PropPage       = "page"       // first/last
	PropPosition   = "position"   // top-left … bottom-right
	PropReason     = "reason"
	PropEvidence   = "evidence" // Y/N: stamp the document id and append a certificate of completion
	// PropMode chooses how the signer authorises (issue 19, must 1): ModeAsk (a request to sign, the
	// default when the signer needs a code and none is given) or ModeCode (the otp property).
	PropMode = "mode"
	// PropDeadline is how many hours a request to sign waits before it expires (default
	// requests.deadline).
	PropDeadline = "deadline"
)

// Modes of the robot (PropMode).
const (
	ModeAsk  = "ask"
	ModeCode = "code"
)

// DocumentGeneratorPrefix names a document-generator document in the document property:
// "docgen:<id>", the id the "Create document" robot returns.
const DocumentGeneratorPrefix = "docgen:"

// Positions of the visible signet, in the order of the dialog's grid.
var Positions = []string{"top-left", "top-center", "top-right", "bottom-left", "bottom-center", "bottom-right"}

// RobotJobID derives the job id from the portal and the robot's event_token, which Bitrix24 makes new for
// every execution of a robot: the same call sent twice is the same job.
func RobotJobID(memberID, eventToken string) string {
	sum := sha256.Sum256([]byte(memberID + "|" + eventToken))
	return "r" + hex.EncodeToString(sum[:16])
}

func (in *Intake) handleRobot(w http.ResponseWriter, r *http.Request) {
	// One deadline for the whole call, from its arrival (callDeadline): the portal lookup and its
	// confirmation come before the claim, and without it each JetStream call waits its own default
	// while NATS elects a leader, holding Bitrix24's call past its patience.
	ctx, cancel := context.WithTimeout(r.Context(), in.callDeadline())
	defer cancel()
	req, portal, log, ok := in.robotCaller(ctx, w, r)
	if !ok {
		return
	}
	job := &contracts.SignJob{
		ID:       RobotJobID(req.Auth.MemberID, req.EventToken),
		Kind:     contracts.KindRobot,
		Created:  in.now().UTC(),
		Portal:   contracts.Portal{MemberID: req.Auth.MemberID, Domain: portal.Auth.Domain},
		Reply:    contracts.Reply{EventToken: req.EventToken, WorkflowID: req.WorkflowID},
		Document: contracts.Document{DocumentID: req.DocumentID},
	}
	// Refusals are told to the workflow in the portal's language (refusal.go).
	lang := i18n.For(i18n.FromBitrix24(portal.Language))
	if typ, id, err := req.DocumentItem(); err == nil && EntityTypeID(typ) != 0 {
		job.Document.EntityTypeID, job.Document.EntityID = EntityTypeID(typ), id
	}
	log = log.With(zap.String("job_id", job.ID))
	// A repeat of this call (Bitrix24 retrying, or two copies at once) must be known as one before the
	// OTP is checked: the first copy consumed the code, and a second check would refuse the repeat and
	// tell the workflow it failed while the first copy's document is signed. The claim is atomic (KV
	// Create keyed by the job id); the copy holding it finishes within claimHold (ctx's deadline).
	claim, prev, err := in.claimCall(ctx, job.ID)
	if err != nil {
		in.unavailable(w, log, job, "could not claim the robot call", err)
		return
	}
	if prev != nil {
		in.answerRepeat(ctx, w, log, job, claim, prev)
		return
	}
	if req.Code != in.RobotCode {
		in.refuse(ctx, w, log, job, claim, lang, &refusal{key: "refusal.robotCode", args: []any{clip(req.Code, 64), in.RobotCode}})
		return
	}
	plan, err := in.fillFromProperties(ctx, req, portal, job)
	if err == nil && !plan.ask {
		err = in.authorizeCall(ctx, job, plan)
	}
	if err != nil {
		if !isRefusal(err) {
			claim.release(ctx)
			in.unavailable(w, log, job, "could not authorise the robot call", err)
			return
		}
		in.refuse(ctx, w, log, job, claim, lang, err)
		return
	}
	in.setLocale(ctx, job, portal.Language)
	if plan.ask {
		in.createRequest(ctx, w, log, job, claim, plan)
		return
	}
	// Recorded before it is published: a repeat after a lost publish sends this job, without asking
	// for the (now used) code again.
	if err := claim.set(ctx, callRecord{State: callAuthorized, Since: in.now().UTC(), Job: job}); err != nil {
		if !errors.Is(err, errClaimLost) {
			claim.release(ctx)
		}
		in.unavailable(w, log, job, "could not record the authorised robot call", err)
		return
	}
	in.sendJob(ctx, w, log, job, claim, false)
}

// robotCaller reads a robot call and proves it comes from an installed portal: its
// application_token matches the one recorded, and is confirmed with the portal
// (docs/security/portal.md). It answers the refusal itself and then returns false. Both robots
// (sign, and the route robot of robot_route.go) start here.
func (in *Intake) robotCaller(ctx context.Context, w http.ResponseWriter, r *http.Request) (*bitrix24.RobotRequest, *portals.Portal, *zap.Logger, bool) {
	req, err := bitrix24.ParseRobotRequest(r)
	if err != nil {
		in.Log.Warn("robot call refused: malformed", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("robot", "refused").Inc()
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: err.Error()})
		return nil, nil, nil, false
	}
	log := in.Log.With(zap.String("member_id", req.Auth.MemberID), zap.String("workflow_id", req.WorkflowID))
	portal, _, err := in.Portals.Get(ctx, req.Auth.MemberID)
	if err != nil {
		if errors.Is(err, portals.ErrUnknownPortal) {
			in.refuseCaller(ctx, w, log, req.Auth.MemberID, "unknown portal", "unknown portal: install the Signet application first")
			return nil, nil, nil, false
		}
		log.Error("robot call: portal registry unavailable", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("robot", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable; try again"})
		return nil, nil, nil, false
	}
	if !bitrix24.VerifyApplicationToken(portal.Auth.ApplicationToken, req.Auth.ApplicationToken) {
		in.refuseCaller(ctx, w, log, req.Auth.MemberID, "application_token does not match", "application_token does not match")
		return nil, nil, nil, false
	}
	// A token that only a token-less ONAPPINSTALL brought is believed once a call of the installing
	// administrator (the robot's AUTH_USER_ID) confirms it with the portal (docs/security/portal.md).
	if err := in.ConfirmApplicationToken(ctx, portal, req.Auth); err != nil {
		if errors.Is(err, bitrix24.ErrNotProven) {
			in.refuseCaller(ctx, w, log.With(zap.Error(err)), req.Auth.MemberID, "application_token not confirmed by the portal", "the application's install is not confirmed yet: an administrator opens Signet in the portal")
			return nil, nil, nil, false
		}
		log.Error("robot call: confirming the application_token with the portal failed", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("robot", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal unavailable; try again"})
		return nil, nil, nil, false
	}

	return req, portal, log, true
}

// sendJob publishes an authorised robot job and marks its call sent.
func (in *Intake) sendJob(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, repeat bool) {
	dup, err := in.publishJob(ctx, job)
	if err != nil {
		in.unavailable(w, log, job, "could not queue the job", err)
		return
	}
	if err := claim.set(ctx, callRecord{State: callAuthorized, Since: in.now().UTC(), Sent: true}); err != nil {
		log.Warn("robot call: job queued, but not marked sent; a repeat re-publishes it (dropped as a duplicate)", zap.Error(err))
	}
	dup = dup || repeat
	log.Info("sign job queued", zap.String("login", job.Signer.Login), zap.String("authorization", job.Signer.Authorization), zap.Bool("duplicate", dup))
	metrics.IntakeTotal.WithLabelValues("robot", intakeResult(dup)).Inc()
	reply(w, http.StatusOK, answer{JobID: job.ID, Status: "queued", Duplicate: dup})
}

// answerRepeat answers a repeated robot call like the first copy was answered, without checking
// anything again: the job was authorised (queued, duplicate) or refused (the same reason). What the
// first copy could not send (a transient fault after the decision) is sent now, once.
func (in *Intake) answerRepeat(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, prev *callRecord) {
	log = log.With(zap.Bool("repeat", true))
	switch {
	case prev.State == callAuthorized && !prev.Sent && prev.Job != nil:
		in.sendJob(ctx, w, log, prev.Job, claim, true)
	case prev.State == callAuthorized:
		log.Info("repeated robot call: the job was queued already")
		metrics.IntakeTotal.WithLabelValues("robot", "duplicate").Inc()
		reply(w, http.StatusOK, answer{JobID: job.ID, Status: "queued", Duplicate: true})
	case prev.State == callRequested:
		log.Info("repeated robot call: the request to sign exists already")
		metrics.IntakeTotal.WithLabelValues("robot", "duplicate").Inc()
		reply(w, http.StatusOK, answer{JobID: job.ID, Status: "requested", Duplicate: true})
	case prev.State == callRefused && !prev.Sent && prev.Job != nil:
		in.sendRefusal(ctx, w, log, prev.Job, claim, prev.Reason, prev.Failure, true)
	default:
		log.Info("repeated robot call: refused already", zap.String("reason", prev.Reason))
		metrics.IntakeTotal.WithLabelValues("robot", "refused").Inc()
		reply(w, http.StatusUnprocessableEntity, answer{JobID: job.ID, Status: "refused", Error: prev.Reason, Duplicate: true})
	}
}

// unavailable answers a transient fault: 503, so Bitrix24 may retry, and nothing to the workflow.
func (in *Intake) unavailable(w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, what string, err error) {
	log.Error("robot call: "+what+"; answered 503", zap.Error(err))
	metrics.IntakeTotal.WithLabelValues(string(job.Kind), "error").Inc()
	reply(w, http.StatusServiceUnavailable, answer{JobID: job.ID, Status: "error", Error: "Signet is temporarily unavailable; Bitrix24 may retry"})
}

// refuse records the refusal of the claimed call (in English, for the audit and the operator),
// answers 422 and sends the reason to the workflow through the callback stream in the portal's
// language lang.
func (in *Intake) refuse(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, lang *i18n.Localizer, why error) {
	signer := job.Signer.Login
	if signer == "" && job.Signer.BitrixUserID > 0 {
		signer = "user_" + strconv.Itoa(job.Signer.BitrixUserID)
	}
	english := refusalIn(i18n.For(i18n.Fallback), why, signer)
	e := audit.JobEvent(contracts.AuditRequestRefused, job)
	e.Outcome, e.Reason = contracts.AuditRefused, english
	in.record(ctx, e)
	log.Warn("sign request refused", zap.String("reason", english))
	reason, failure := refusalIn(lang, why, signer), refusalFailure(why, signer)
	if err := claim.set(ctx, callRecord{State: callRefused, Since: in.now().UTC(), Job: job, Reason: reason, Failure: failure}); err != nil {
		if !errors.Is(err, errClaimLost) {
			claim.release(ctx)
		}
		in.unavailable(w, log, job, "could not record the refusal", err)
		return
	}
	in.sendRefusal(ctx, w, log, job, claim, reason, failure, false)
}

// sendRefusal queues a refused call's failed result for the workflow and marks the call sent.
func (in *Intake) sendRefusal(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, reason string, failure *contracts.Failure, repeat bool) {
	metrics.IntakeTotal.WithLabelValues(string(job.Kind), "refused").Inc()
	if err := in.publishRefusal(ctx, job, reason, failure); err != nil {
		in.unavailable(w, log, job, "could not queue the refusal for the workflow", err)
		return
	}
	if err := claim.set(ctx, callRecord{State: callRefused, Since: in.now().UTC(), Reason: reason, Sent: true}); err != nil {
		log.Warn("robot call: refusal queued, but not marked sent; a repeat re-publishes it (dropped as a duplicate)", zap.Error(err))
	}
	reply(w, http.StatusUnprocessableEntity, answer{JobID: job.ID, Status: "refused", Error: reason, Duplicate: repeat})
}

// callPlan is what the robot's properties ask for once they are valid: who signs, and how the call
// is authorised (the inline code, at once for a signer without OTP, or a request to sign).
type callPlan struct {
	user     *identity.User
	otp      string
	ask      bool          // a request to sign (requests.Service) instead of a job now
	deadline time.Duration // of the request
	docGen   int           // a document-generator document, resolved when the job is made
}

// fillFromProperties validates the robot's properties and resolves the signer, the credential and
// the document into job. The signer is read first, so a refusal at the document stage is told to
// the signer too (the README's promise), not only to the workflow.
func (in *Intake) fillFromProperties(ctx context.Context, req *bitrix24.RobotRequest, portal *portals.Portal, job *contracts.SignJob) (*callPlan, error) {
	for k, v := range req.Properties {
		if n := propertySize(v); n > maxProperty {
			return nil, &PropertyError{clip(k, 64), "refusal.property.tooLong", []any{strconv.Itoa(n), strconv.Itoa(maxProperty)}}
		}
	}
	prop := func(k string) string {
		switch v := req.Properties[k].(type) {
		case string:
			return strings.TrimSpace(v)
		case []string:
			if len(v) > 0 {
				return strings.TrimSpace(v[0])
			}
		}
		return ""
	}
	plan := &callPlan{otp: prop(PropOTP)}

	signer := strings.TrimPrefix(prop(PropSigner), "user_")
	uid, err := strconv.Atoi(signer)
	if err != nil || uid <= 0 {
		return nil, &PropertyError{PropSigner, "refusal.signer.format", nil}
	}
	// Names the signer in a refusal before the login is known, and tells them of it (issue 19).
	job.Signer.BitrixUserID, job.Reply.NotifyUserID = uid, uid

	// The document: a file field of the item, a Disk file id, a document-generator document, or a
	// URL on the portal's own host (a robot file property may arrive as a URL or a numeric id, see
	// the reference §4.2). Source tells the workflow which one was used.
	doc := prop(PropDocument)
	switch {
	case doc == "":
		return nil, &PropertyError{PropDocument, "refusal.document.empty", nil}
	case isFileFieldCode(doc):
		field, fileID, ok := parseFileField(doc)
		if !ok {
			return nil, &PropertyError{PropDocument, "refusal.document.fileField", nil}
		}
		if job.Document.EntityTypeID == 0 {
			return nil, &PropertyError{PropDocument, "refusal.document.fileFieldNotDeal", nil}
		}
		job.Document.FileField, job.Document.FileID = field, fileID
		job.Document.Source = contracts.SourceFileField
	case isDigits(doc):
		id, _ := strconv.Atoi(doc)
		job.Document.DiskFileID = id
		job.Document.Source = contracts.SourceDisk
	case strings.HasPrefix(strings.ToLower(doc), DocumentGeneratorPrefix):
		id, err := strconv.Atoi(doc[len(DocumentGeneratorPrefix):])
		if err != nil || id <= 0 {
			return nil, &PropertyError{PropDocument, "refusal.document.generator", nil}
		}
		plan.docGen = id
		job.Document.Source = contracts.SourceDocumentGenerator
	default:
		u, err := url.Parse(doc)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &PropertyError{PropDocument, "refusal.document.notFile", nil}
		}
		if !strings.EqualFold(u.Host, portal.Auth.Domain) {
			return nil, &PropertyError{PropDocument, "refusal.document.outside", []any{u.Hostname(), portal.Auth.Domain}}
		}
		job.Document.URL = doc
		job.Document.FileName = pathBase(u.Path)
		job.Document.Source = contracts.SourceURL
	}

	user, err := in.Identity.UserByBitrixID(ctx, job.Portal.MemberID, uid)
	if err != nil {
		return nil, fmt.Errorf("signer user_%d: %w", uid, err)
	}
	plan.user = user
	job.Signer = contracts.Signer{Login: user.Login, BitrixUserID: uid}

	if job.Credential, err = pickCredential(prop(PropCredential), user); err != nil {
		return nil, err
	}

	switch v := strings.ToUpper(prop(PropVisible)); v {
	case "", "N":
	case "Y":
		job.Stamp.Visible = true
	default:
		return nil, &PropertyError{PropVisible, "refusal.yesNo", nil}
	}
	switch v := prop(PropPage); v {
	case "", "first", "last":
		job.Stamp.Page = v
	default:
		return nil, &PropertyError{PropPage, "refusal.page", nil}
	}
	if v := prop(PropPosition); v != "" {
		if !contains(Positions, v) {
			return nil, &PropertyError{PropPosition, "refusal.position", []any{strings.Join(Positions, ", ")}}
		}
		job.Stamp.Position = v
	}
	switch v := strings.ToUpper(prop(PropEvidence)); v {
	case "", "N":
	case "Y":
		job.Stamp.Evidence = true
	default:
		return nil, &PropertyError{PropEvidence, "refusal.yesNo", nil}
	}
	job.Stamp.Reason = prop(PropReason)
	if len(job.Stamp.Reason) > 200 {
		return nil, &PropertyError{PropReason, "refusal.reason.tooLong", nil}
	}

	// The mode (issue 19, must 1): a request to sign when the signer needs a code and none is given,
	// unless the process says the code comes with the robot (then its absence is refused); a signer
	// without OTP signs at once.
	mode := strings.ToLower(prop(PropMode))
	switch mode {
	case "", ModeAsk, ModeCode:
	default:
		return nil, &PropertyError{PropMode, "refusal.mode", nil}
	}
	// A code given in the otp property is used whatever the mode: Bitrix24 sends a property's default
	// (ask) to robots placed before the property existed, and those processes collect the code.
	plan.ask = in.Requests != nil && !user.OTPDisabled && plan.otp == "" && mode != ModeCode
	plan.deadline = in.requestDeadline()
	if v := prop(PropDeadline); v != "" {
		maxHours := int(requests.MaxDeadline / time.Hour)
		h, err := strconv.Atoi(v)
		if err != nil || h < 1 || h > maxHours {
			return nil, &PropertyError{PropDeadline, "refusal.deadline", []any{strconv.Itoa(maxHours)}}
		}
		plan.deadline = time.Duration(h) * time.Hour
	}
	// A robot the portal times out itself ends then; the request ends with it rather than after.
	if t := time.Duration(req.TimeoutDuration) * time.Second; t > 0 && t < plan.deadline {
		plan.deadline = t
	}
	if plan.ask {
		// Checked now, so a request that can never be signed is refused while the process runs,
		// not when the signer tries.
		if !user.Enrolled {
			return nil, fmt.Errorf("signer %s: %w", user.Login, identity.ErrNotEnrolled)
		}
		if err := in.checkCredentialPortal(ctx, job); err != nil {
			return nil, err
		}
		return plan, nil
	}
	if plan.docGen != 0 {
		if err := in.resolveGenerated(ctx, job, plan.docGen); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// authorizeCall authorises an inline call (the code in the robot, or a signer without OTP).
func (in *Intake) authorizeCall(ctx context.Context, job *contracts.SignJob, plan *callPlan) error {
	d, err := in.authorize(ctx, job, plan.user.Login, plan.otp, "")
	if err != nil {
		return err
	}
	job.Signer.Authorization = d.Method
	job.Signer.GrantID = d.GrantID
	return nil
}

// maxProperty bounds one robot property (all its values together): the longest Signet takes is a
// file URL on the portal or a PKCS#11 URI.
const maxProperty = 4096

func propertySize(v any) int {
	switch t := v.(type) {
	case string:
		return len(t)
	case []string:
		n := 0
		for _, s := range t {
			n += len(s)
		}
		return n
	}
	return 0 // nested deeper than Bitrix24 sends: never read (prop gives "")
}

// clip quotes at most n bytes of a value the caller sent, for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// EntityTypeID is the CRM entityTypeId (crm.item.*) of a robot's document type, the TYPE of
// document_id[2] (bitrix24.RobotRequest.DocumentItem): DEAL 2, LEAD 1, CONTACT 3, COMPANY 4, QUOTE 7,
// SMART_INVOICE 31, DYNAMIC_<id> its id; 0 for a document that is not a CRM item (a list, a Disk
// document), whose robot cannot name a file field.
func EntityTypeID(typ string) int {
	switch typ {
	case "LEAD":
		return 1
	case "DEAL":
		return 2
	case "CONTACT":
		return 3
	case "COMPANY":
		return 4
	case "QUOTE":
		return 7
	case "SMART_INVOICE":
		return 31
	}
	if n, ok := strings.CutPrefix(typ, "DYNAMIC_"); ok {
		if id, err := strconv.Atoi(n); err == nil && id > 0 {
			return id
		}
	}
	return 0
}

// isFileFieldCode: UF_CRM_… (the user field code shown in the CRM settings) or ufCrm… (crm.item.*).
func isFileFieldCode(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "uf_crm_") || strings.HasPrefix(l, "ufcrm")
}

// parseFileField splits "UF_CRM_X" or "UF_CRM_X:123" into the field code and the file id (0: the
// field's newest file).
func parseFileField(s string) (string, int, bool) {
	field, id, hasID := strings.Cut(s, ":")
	for _, r := range field {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", 0, false
		}
	}
	if !hasID {
		return field, 0, true
	}
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return field, n, true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func pathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if p == "" {
		return "document.pdf"
	}
	return p
}

// intakeResult is the result label of signet_intake_requests_total for a published job.
func intakeResult(duplicate bool) string {
	if duplicate {
		return "duplicate"
	}
	return "queued"
}

// refuseCaller answers a robot call whose caller is not proven (an unknown portal, a wrong or not yet
// confirmed application_token): 401, audited with the reason, counted; nothing is queued.
func (in *Intake) refuseCaller(ctx context.Context, w http.ResponseWriter, log *zap.Logger, memberID, reason, message string) {
	log.Warn("robot call refused: " + reason)
	in.record(ctx, contracts.AuditEvent{Action: contracts.AuditRequestRefused, Portal: memberID, Outcome: contracts.AuditRefused, Reason: reason})
	metrics.IntakeTotal.WithLabelValues("robot", "unauthorized").Inc()
	reply(w, http.StatusUnauthorized, answer{Status: "refused", Error: message})
}
