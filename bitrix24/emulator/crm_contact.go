package emulator

import (
	"strings"

	"github.com/signet-b24/signet/bitrix24"
)

// Contacts and companies, for the route robot's counterparties (issue 20): crm.contact.get and
// crm.company.get as the Bitrix24 REST docs give them (crm/contacts/crm_contact_get, crm/companies/
// crm_company_get): {"id": N} in, the record with its UPPER_CASE fields out — NAME, LAST_NAME (a
// contact), TITLE (a company), and the multiple fields EMAIL and PHONE as lists of
// {"ID", "VALUE", "VALUE_TYPE"}. A deal names them in crm.item.get's contactId and companyId.
const (
	EntityContact = 3
	EntityCompany = 4
)

// AddContact stores a contact with its UPPER_CASE fields (NAME, LAST_NAME, EMAIL, PHONE…) and
// returns its id; AddCompany likewise (TITLE, EMAIL, PHONE…).
func (p *Portal) AddContact(fields map[string]any) int { return p.AddItem(EntityContact, fields) }

// AddCompany stores a company; see AddContact.
func (p *Portal) AddCompany(fields map[string]any) int { return p.AddItem(EntityCompany, fields) }

func (p *Portal) crmContactGet(c *callCtx, params map[string]any) (any, *apiError) {
	return p.crmRecordGet(EntityContact, params)
}

func (p *Portal) crmCompanyGet(c *callCtx, params map[string]any) (any, *apiError) {
	return p.crmRecordGet(EntityCompany, params)
}

// crmRecordGet answers the old crm.<type>.get: "id" is required; an unknown id is "Not found".
func (p *Portal) crmRecordGet(et int, params map[string]any) (any, *apiError) {
	id, ok := toInt(mustParam(params, "id"))
	if !ok || id <= 0 {
		return nil, errArg("ID is not defined or invalid.")
	}
	d, ok := p.items[et][id]
	if !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeNotFound, desc: "Not found"}
	}
	out := map[string]any{"ID": id}
	for k, v := range d.fields {
		if k == strings.ToUpper(k) { // the old methods' fields; AddItem's camelCase defaults are crm.item's
			out[k] = v
		}
	}
	return out, nil
}
