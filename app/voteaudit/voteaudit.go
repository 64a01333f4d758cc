// Package voteaudit is the operator's command against ballot stuffing
// (`go run ./app audit-votes`): a ranked report of the players whose votes
// come from suspicious accounts, and the voiding (and restoring) of the
// votes of listed accounts, each recorded with who, when and why.
package voteaudit

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anb/risingstars/app/store"
)

// Store is what the command needs from the database.
type Store interface {
	Audit(ctx context.Context, rules store.AuditRules) ([]store.Suspect, error)
	VoidVotes(ctx context.Context, accounts []int64, actor, reason string) (store.Void, error)
	RestoreVotes(ctx context.Context, id int64, actor string) (int64, error)
	Voids(ctx context.Context) ([]store.Void, error)
	TotalsCheck(ctx context.Context) (totals, counted int64, err error)
}

// Usage is the command's help.
const Usage = `usage: app audit-votes [flags]

Reports, per player, the votes from suspicious accounts (most flagged first),
or voids / restores the votes of listed accounts. Reads the database the
ANB_* environment names (the same as the web tier's).

An account carries up to three signals: burst (created with at least
-burst-accounts others from one address within -burst-window), shared
address (voted from an address at least -shared-address accounts voted
from), single purpose (no videos, and every vote for one player). It is
flagged with two or more.`

// Run executes the command with its arguments, writing to out.
func Run(ctx context.Context, st Store, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit-votes", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprintln(out, Usage); fs.PrintDefaults() }
	var (
		rules   store.AuditRules
		csvPath = fs.String("csv", "", "also write the whole report as CSV to this file (- for standard output)")
		top     = fs.Int("top", 20, "players in the table (the CSV has all)")
		void    = fs.String("void", "", "void the votes of these account ids (comma-separated), e.g. a row's flagged_accounts")
		restore = fs.Int64("restore", 0, "undo the voiding with this id")
		by      = fs.String("by", "", "who voids or restores (required with -void and -restore)")
		reason  = fs.String("reason", "", "why (required with -void)")
		list    = fs.Bool("voids", false, "list the voidings and exit")
	)
	fs.IntVar(&rules.BurstAccounts, "burst-accounts", 5, "accounts from one address that make a burst")
	fs.DurationVar(&rules.BurstWindow, "burst-window", 10*time.Minute, "time within which they make a burst")
	fs.IntVar(&rules.SharedAddress, "shared-address", 5, "accounts voting from one address that make it shared")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	switch {
	case *list:
		return listVoids(ctx, st, out)
	case *void != "":
		accounts, err := parseIDs(*void)
		if err != nil {
			return err
		}
		if strings.TrimSpace(*by) == "" || strings.TrimSpace(*reason) == "" {
			return errors.New("-void needs -by (who) and -reason (why): the voiding is recorded")
		}
		v, err := st.VoidVotes(ctx, accounts, *by, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "voiding %d: %d votes of %d accounts voided by %s (%s); undo with -restore %d\n", v.ID, v.Votes, v.Accounts, v.Actor, v.Reason, v.ID)
		return checkTotals(ctx, st, out)
	case *restore != 0:
		if strings.TrimSpace(*by) == "" {
			return errors.New("-restore needs -by (who): the restoring is recorded")
		}
		n, err := st.RestoreVotes(ctx, *restore, *by)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "voiding %d restored by %s: %d votes count again (or wait again for verification)\n", *restore, *by, n)
		return checkTotals(ctx, st, out)
	}
	if rules.BurstAccounts < 2 || rules.SharedAddress < 2 || rules.BurstWindow <= 0 {
		return errors.New("-burst-accounts and -shared-address must be at least 2, -burst-window positive")
	}
	rows, err := st.Audit(ctx, rules)
	if err != nil {
		return err
	}
	writeTable(out, rows, *top)
	if *csvPath != "" {
		w := out
		if *csvPath != "-" {
			f, err := os.Create(*csvPath)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := writeCSV(w, rows); err != nil {
			return err
		}
	}
	return checkTotals(ctx, st, out)
}

func parseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("-void: %q is not an account id", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("-void: no account id")
	}
	return ids, nil
}

func short(address string) string {
	if len(address) > 8 {
		return address[:8]
	}
	return address
}

func writeTable(out io.Writer, rows []store.Suspect, top int) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rank\tplayer_id\tplayer\tcity\tvotes\tvoters\tflagged\tburst\tshared_addr\tsingle_purpose\tunverified\tpending\tvoided\ttop_address\t")
	for i, r := range rows {
		if i == top {
			break
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t%d\t%d\t%s×%d\t\n", i+1, r.PlayerID, r.Player, r.City, r.Votes, r.Voters,
			len(r.Flagged), r.Burst, r.SharedAddress, r.SinglePurpose, 100*r.UnverifiedShare(), r.Pending, r.Voided, short(r.TopAddress), r.TopAddressAccounts)
	}
	tw.Flush()
	if len(rows) > top {
		fmt.Fprintf(out, "(%d more players in the CSV)\n", len(rows)-top)
	}
}

// CSVHeader is the first line of the CSV report.
var CSVHeader = []string{"rank", "player_id", "player", "city", "votes", "voters", "flagged", "burst", "shared_address", "single_purpose",
	"unverified", "unverified_share", "pending", "voided", "top_address", "top_address_accounts", "flagged_accounts"}

func writeCSV(out io.Writer, rows []store.Suspect) error {
	w := csv.NewWriter(out)
	w.Write(CSVHeader)
	for i, r := range rows {
		ids := make([]string, len(r.Flagged))
		for j, id := range r.Flagged {
			ids[j] = strconv.FormatInt(id, 10)
		}
		w.Write([]string{strconv.Itoa(i + 1), strconv.FormatInt(r.PlayerID, 10), r.Player, r.City, strconv.FormatInt(r.Votes, 10),
			strconv.Itoa(r.Voters), strconv.Itoa(len(r.Flagged)), strconv.Itoa(r.Burst), strconv.Itoa(r.SharedAddress), strconv.Itoa(r.SinglePurpose),
			strconv.Itoa(r.Unverified), strconv.FormatFloat(r.UnverifiedShare(), 'f', 3, 64), strconv.Itoa(r.Pending), strconv.Itoa(r.Voided),
			r.TopAddress, strconv.Itoa(r.TopAddressAccounts), strings.Join(ids, " ")})
	}
	w.Flush()
	return w.Error()
}

func listVoids(ctx context.Context, st Store, out io.Writer) error {
	voids, err := st.Voids(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tcreated_at\tby\taccounts\tvotes\treason\trestored_at\trestored_by")
	for _, v := range voids {
		restored := "-"
		if v.RestoredAt != nil {
			restored = v.RestoredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", v.ID, v.CreatedAt.UTC().Format(time.RFC3339), v.Actor, v.Accounts, v.Votes, v.Reason, restored, v.RestoredBy)
	}
	return tw.Flush()
}

// checkTotals states, from the database, that the rankings' totals equal
// the votes that count; a difference is an error.
func checkTotals(ctx context.Context, st Store, out io.Writer) error {
	totals, counted, err := st.TotalsCheck(ctx)
	if err != nil {
		return err
	}
	if totals != counted {
		return fmt.Errorf("rankings totals (%d) differ from the votes that count (%d)", totals, counted)
	}
	fmt.Fprintf(out, "check: Σ rankings totals = %d = votes that count\n", totals)
	return nil
}
