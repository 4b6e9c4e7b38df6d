package audit

import "github.com/signet-b24/signet/contracts"

// JobEvent starts the event of one step of a job: the portal, the signer (Bitrix24 user and Signet
// login), the job and batch ids and the credential. The caller adds the outcome, the reason, hashes.
func JobEvent(action string, job *contracts.SignJob) contracts.AuditEvent {
	return contracts.AuditEvent{
		Action: action, Portal: job.Portal.MemberID, BitrixUserID: job.Signer.BitrixUserID, Login: job.Signer.Login,
		JobID: job.ID, BatchID: job.BatchID, Credential: job.Credential,
	}
}

// SignedEvent is the job_signed event of a result: the document's SHA-256 before and after, and the
// certificate it was signed with.
func SignedEvent(job *contracts.SignJob, s *contracts.Signed) contracts.AuditEvent {
	e := JobEvent(contracts.AuditJobSigned, job)
	e.Outcome = contracts.AuditOK
	e.SHA256Before, e.SHA256After = s.SHA256Before, s.SHA256After
	e.CertSerial, e.CertSubject = s.CertificateSerial, s.CertificateSubject
	return e
}

// CallbackEvent is the event of a callback step (called_back, callback_failed).
func CallbackEvent(action string, cb *contracts.Callback) contracts.AuditEvent {
	e := contracts.AuditEvent{
		Action: action, Portal: cb.Portal.MemberID, BitrixUserID: cb.Signer.BitrixUserID, Login: cb.Signer.Login,
		JobID: cb.JobID, BatchID: cb.BatchID, Outcome: string(cb.Outcome), Reason: cb.Error,
	}
	if s := cb.Signed; s != nil {
		e.SHA256Before, e.SHA256After, e.CertSerial, e.CertSubject = s.SHA256Before, s.SHA256After, s.CertificateSerial, s.CertificateSubject
	}
	return e
}
