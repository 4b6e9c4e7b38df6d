// Package bulk selects the documents an accountant signs at once from inside Bitrix24 (issue 19,
// must 3): a CRM filter (entity type — deals, invoices, a smart process — pipeline, stages, dates,
// responsible) read with crm.item.list under the viewer's own token, so the portal shows them only
// what they may read, and turned into a producer/batch manifest scoped by one grant to exactly those
// documents. It also states what the batch costs the portal (Estimate): replacing a file is one REST
// request per document because uploads cannot go inside `batch` (reference §7), so at a standard
// plan's 2 requests/s 10,000 documents need about 83 minutes of the portal's budget, while the mode
// that keeps the signed PDFs in Signet's storage writes a link and the status 50 items a request.
//
// The package carries no HTTP; the page that calls it is a Bitrix24 door in producer/.
package bulk
