package emulator

import (
	"strconv"
	"time"
)

// A document of the document generator (reference §6.3, bitrix24-people-notes.md §6): made from a
// template for a CRM item; its PDF is a file the portal serves. crm.documentgenerator.document.get
// answers {document: {id, title, number, templateId, entityTypeId, entityId, downloadUrl, pdfUrl,
// imageUrl, downloadUrlMachine, pdfUrlMachine, imageUrlMachine, …}}; pdfUrl and pdfUrlMachine are
// absent until the conversion to PDF is done (Pending).
type generatedDoc struct {
	id, entityTypeID, entityID int
	title                      string
	diskID                     int // the PDF, served like a Disk file
	pending                    bool
}

// AddGeneratedDocument stores a document-generator document of the CRM item with its PDF and
// returns its id. pending: the PDF conversion is not finished (no pdfUrl yet).
func (p *Portal) AddGeneratedDocument(entityTypeID, entityID int, title string, pdf []byte, pending bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	diskID := p.newIDLocked()
	now := time.Now()
	p.disk[diskID] = &diskFile{id: diskID, name: title + ".pdf", versions: [][]byte{append([]byte(nil), pdf...)}, created: now, updated: now}
	id := p.newIDLocked()
	if p.docgen == nil {
		p.docgen = map[int]*generatedDoc{}
	}
	p.docgen[id] = &generatedDoc{id: id, entityTypeID: entityTypeID, entityID: entityID, title: title, diskID: diskID, pending: pending}
	return id
}

func (p *Portal) docGenGet(c *callCtx, params map[string]any) (any, *apiError) {
	id, ok := toInt(mustParam(params, "id"))
	if !ok || id <= 0 {
		return nil, errArg("Could not find required argument id")
	}
	d, ok := p.docgen[id]
	if !ok {
		return nil, &apiError{status: 400, code: "DOCUMENT_NOT_FOUND", desc: "Document not found"}
	}
	doc := map[string]any{"id": strconv.Itoa(d.id), "title": d.title, "number": strconv.Itoa(d.id), "templateId": "1",
		"entityTypeId": strconv.Itoa(d.entityTypeID), "entityId": strconv.Itoa(d.entityID)}
	url := p.diskDownloadURLLocked(d.diskID, c.token)
	doc["downloadUrl"], doc["downloadUrlMachine"] = url, url
	if !d.pending {
		doc["pdfUrl"], doc["pdfUrlMachine"] = url, url
	}
	return map[string]any{"document": doc}, nil
}
