package bitrix24

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxFormDepth bounds bracket nesting like PHP's max_input_nesting_level (64); Bitrix24 never goes
// deeper than three levels (properties[k][0]).
const maxFormDepth = 32

// DecodeForm turns PHP-style bracket keys into nested values, the way PHP builds $_POST from a
// form-encoded body (reference §4): "auth[access_token]" → m["auth"]["access_token"], "document_id[2]"
// and "a[]" → slices. Values are string, []any or map[string]any. A map whose keys are exactly 0..n-1
// becomes a []any; a sparse one stays a map with the decimal keys. A plain key given several times
// ("k=a&k=b") becomes a []any instead of PHP's last-one-wins, so a smuggled second value of
// auth[application_token] can never be silently preferred. Malformed keys ("a[b", "[x]") and a key
// used both as a value and as a container ("a=1&a[b]=2") are errors.
func DecodeForm(v url.Values) (map[string]any, error) {
	root := map[string]any{}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path, err := splitFormKey(k)
		if err != nil {
			return nil, err
		}
		for _, val := range v[k] {
			if err := formInsert(root, path, val, k); err != nil {
				return nil, err
			}
		}
	}
	// The top level is always a map of names, whatever they look like: "0=x" is a field named "0", not
	// a list (PHP's $_POST is an array keyed by name), so only the values below it are normalised.
	for k, c := range root {
		root[k] = normalizeForm(c)
	}
	return root, nil
}

// splitFormKey splits "a[b][]" into ["a","b",""]; "" stands for "append".
func splitFormKey(k string) ([]string, error) {
	i := strings.IndexByte(k, '[')
	if i < 0 {
		if strings.IndexByte(k, ']') >= 0 {
			return nil, fmt.Errorf("%w: key %q has ']' without '['", ErrMalformedForm, k)
		}
		if k == "" {
			return nil, fmt.Errorf("%w: empty key", ErrMalformedForm)
		}
		return []string{k}, nil
	}
	if i == 0 {
		return nil, fmt.Errorf("%w: key %q has no name before '['", ErrMalformedForm, k)
	}
	path := []string{k[:i]}
	rest := k[i:]
	for rest != "" {
		if rest[0] != '[' {
			return nil, fmt.Errorf("%w: key %q has text after ']'", ErrMalformedForm, k)
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return nil, fmt.Errorf("%w: key %q has an unclosed '['", ErrMalformedForm, k)
		}
		seg := rest[1:j]
		if strings.IndexByte(seg, '[') >= 0 {
			return nil, fmt.Errorf("%w: key %q has nested '[' inside brackets", ErrMalformedForm, k)
		}
		path = append(path, seg)
		rest = rest[j+1:]
		if len(path) > maxFormDepth {
			return nil, fmt.Errorf("%w: key %q nests deeper than %d levels", ErrMalformedForm, k, maxFormDepth)
		}
	}
	return path, nil
}

// formList is the builder's representation of "k[]" appends and repeated plain keys.
type formList struct{ items []any }

func formInsert(node map[string]any, path []string, val, key string) error {
	name := path[0]
	if len(path) == 1 {
		switch cur := node[name].(type) {
		case nil:
			node[name] = val
		case string:
			node[name] = &formList{items: []any{cur, val}}
		case *formList:
			cur.items = append(cur.items, val)
		default:
			return fmt.Errorf("%w: key %q is used both as a value and as a container", ErrMalformedForm, key)
		}
		return nil
	}
	next := path[1]
	if next == "" { // name[] → append
		var list *formList
		switch cur := node[name].(type) {
		case nil:
			list = &formList{}
			node[name] = list
		case *formList:
			list = cur
		default:
			return fmt.Errorf("%w: key %q appends to something that is not a list", ErrMalformedForm, key)
		}
		if len(path) == 2 {
			list.items = append(list.items, val)
			return nil
		}
		if path[2] == "" {
			return fmt.Errorf("%w: key %q appends a list to a list; not supported", ErrMalformedForm, key)
		}
		child := map[string]any{}
		list.items = append(list.items, child)
		return formInsert(child, path[2:], val, key)
	}
	var child map[string]any
	switch cur := node[name].(type) {
	case nil:
		child = map[string]any{}
		node[name] = child
	case map[string]any:
		child = cur
	default:
		return fmt.Errorf("%w: key %q is used both as a value and as a container", ErrMalformedForm, key)
	}
	return formInsert(child, path[1:], val, key)
}

// normalizeForm turns builder lists into []any and maps with keys 0..n-1 into []any.
func normalizeForm(v any) any {
	switch t := v.(type) {
	case *formList:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			out[i] = normalizeForm(it)
		}
		return out
	case map[string]any:
		for k, c := range t {
			t[k] = normalizeForm(c)
		}
		if len(t) == 0 {
			return t
		}
		list := make([]any, len(t))
		for k, c := range t {
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(t) || strconv.Itoa(n) != k {
				return t
			}
			list[n] = c
		}
		return list
	default:
		return v
	}
}

// EncodeForm is the inverse of DecodeForm, the way PHP's http_build_query writes nested arrays:
// maps become name[key], slices name[0], name[1]…; bool is "1"/"0" (PHP), nil is "" (reference §4:
// "null → ”"), numbers use their shortest decimal form. The top-level map must hold the names.
func EncodeForm(m map[string]any) url.Values {
	out := url.Values{}
	for k, v := range m {
		encodeFormValue(out, k, v)
	}
	return out
}

func encodeFormValue(out url.Values, key string, v any) {
	switch t := v.(type) {
	case nil:
		out.Add(key, "")
	case string:
		out.Add(key, t)
	case bool:
		if t {
			out.Add(key, "1")
		} else {
			out.Add(key, "0")
		}
	case int:
		out.Add(key, strconv.Itoa(t))
	case int64:
		out.Add(key, strconv.FormatInt(t, 10))
	case float64:
		out.Add(key, strconv.FormatFloat(t, 'f', -1, 64))
	case []string:
		for i, s := range t {
			out.Add(key+"["+strconv.Itoa(i)+"]", s)
		}
	case []any:
		for i, s := range t {
			encodeFormValue(out, key+"["+strconv.Itoa(i)+"]", s)
		}
	case map[string]string:
		for k, s := range t {
			out.Add(key+"["+k+"]", s)
		}
	case map[string]any:
		for k, s := range t {
			encodeFormValue(out, key+"["+k+"]", s)
		}
	case fmt.Stringer:
		out.Add(key, t.String())
	default:
		out.Add(key, fmt.Sprint(t))
	}
}
