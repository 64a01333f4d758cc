package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// expr is a parsed CloudWatch metric math expression: the subset a target
// tracking policy uses (metric ids, numbers, + - * /, comparisons, IF).
// The simulator evaluates the template's own expression, so a change there
// (say, dropping the zero guard) changes what it simulates.
type expr interface {
	eval(vars map[string]float64) (float64, error)
}

// errNoDatapoint is what CloudWatch does with a point that divides by
// zero: it drops it, and the alarm sees no data.
var errNoDatapoint = errors.New("division by zero: CloudWatch drops the datapoint")

type num float64
type ident string
type binary struct {
	op   string
	l, r expr
}
type ifExpr struct{ cond, then, els expr }

func (n num) eval(map[string]float64) (float64, error) { return float64(n), nil }

func (i ident) eval(vars map[string]float64) (float64, error) {
	v, ok := vars[string(i)]
	if !ok {
		return 0, fmt.Errorf("metric math: unknown id %q", string(i))
	}
	return v, nil
}

func (b binary) eval(vars map[string]float64) (float64, error) {
	l, err := b.l.eval(vars)
	if err != nil {
		return 0, err
	}
	r, err := b.r.eval(vars)
	if err != nil {
		return 0, err
	}
	truth := func(ok bool) (float64, error) {
		if ok {
			return 1, nil
		}
		return 0, nil
	}
	switch b.op {
	case "+":
		return l + r, nil
	case "-":
		return l - r, nil
	case "*":
		return l * r, nil
	case "/":
		if r == 0 {
			return 0, errNoDatapoint
		}
		return l / r, nil
	case ">":
		return truth(l > r)
	case ">=":
		return truth(l >= r)
	case "<":
		return truth(l < r)
	case "<=":
		return truth(l <= r)
	case "==":
		return truth(l == r)
	case "!=":
		return truth(l != r)
	}
	return 0, fmt.Errorf("metric math: operator %q", b.op)
}

// IF evaluates only the branch it takes, as CloudWatch does: the guarded
// division is never computed when m2 is 0.
func (e ifExpr) eval(vars map[string]float64) (float64, error) {
	c, err := e.cond.eval(vars)
	if err != nil {
		return 0, err
	}
	if c != 0 {
		return e.then.eval(vars)
	}
	return e.els.eval(vars)
}

// parseExpr parses a metric math expression such as "IF(m2 > 0, m1 / m2, m1)".
func parseExpr(s string) (expr, error) {
	p := &parser{toks: tokenize(s)}
	e, err := p.comparison()
	if err != nil {
		return nil, fmt.Errorf("metric math %q: %w", s, err)
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("metric math %q: unexpected %q", s, p.toks[p.pos])
	}
	return e, nil
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '.':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '.') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case strings.ContainsRune("<>=!", c) && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, s[i:i+2])
			i += 2
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks
}

type parser struct {
	toks []string
	pos  int
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) expect(t string) error {
	if p.peek() != t {
		return fmt.Errorf("expected %q, got %q", t, p.peek())
	}
	p.pos++
	return nil
}

func (p *parser) comparison() (expr, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); op {
	case ">", ">=", "<", "<=", "==", "!=":
		p.pos++
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		return binary{op, l, r}, nil
	}
	return l, nil
}

func (p *parser) sum() (expr, error) {
	l, err := p.product()
	if err != nil {
		return nil, err
	}
	for op := p.peek(); op == "+" || op == "-"; op = p.peek() {
		p.pos++
		r, err := p.product()
		if err != nil {
			return nil, err
		}
		l = binary{op, l, r}
	}
	return l, nil
}

func (p *parser) product() (expr, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for op := p.peek(); op == "*" || op == "/"; op = p.peek() {
		p.pos++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = binary{op, l, r}
	}
	return l, nil
}

func (p *parser) term() (expr, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errors.New("unexpected end")
	case t == "(":
		p.pos++
		e, err := p.comparison()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	case strings.EqualFold(t, "IF") && p.pos+1 < len(p.toks) && p.toks[p.pos+1] == "(":
		p.pos += 2
		var args [3]expr
		for i := range args {
			e, err := p.comparison()
			if err != nil {
				return nil, err
			}
			args[i] = e
			sep := ","
			if i == 2 {
				sep = ")"
			}
			if err := p.expect(sep); err != nil {
				return nil, err
			}
		}
		return ifExpr{args[0], args[1], args[2]}, nil
	case unicode.IsDigit(rune(t[0])) || t[0] == '.':
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, err
		}
		p.pos++
		return num(v), nil
	case unicode.IsLetter(rune(t[0])):
		p.pos++
		return ident(t), nil
	}
	return nil, fmt.Errorf("unexpected %q", t)
}
