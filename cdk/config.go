package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	anb "github.com/anb/risingstars/constructs"
)

// contextKeys are the settings a deployer can give with `-c key=value` (or in
// cdk.json, or as ANB_CDK_<KEY> env vars: alarmEmail -> ANB_CDK_ALARM_EMAIL).
// lab, when set, is the default of the learner-lab profile: what keeps a
// student's budget (often 50-100 USD for the whole course) from idling away.
var contextKeys = []struct{ key, def, lab, help string }{
	{"profile", profileStandard, "", "standard (any AWS account) or learner-lab (AWS Academy Learner Lab: no IAM resources, the lab's limits refused at synth)"},
	{"labInstanceProfile", "LabInstanceProfile", "", "learner-lab: the existing instance profile both tiers run with"},
	{"labRole", "LabRole", "", "learner-lab: the existing role behind labInstanceProfile"},
	{"stackName", "AnbRisingStars", "", "CloudFormation stack name"},
	{"region", "", "", "AWS region (default: CDK_DEFAULT_REGION, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)"},
	{"webInstanceType", anb.DefaultWebInstanceType, "", "EC2 instance type of the web tier (a Graviton type runs arm64)"},
	{"workerInstanceType", anb.DefaultWorkerInstanceType, "", "EC2 instance type of the worker tier (a Graviton type runs arm64)"},
	{"webMinCapacity", "2", "", "minimum web instances"},
	{"webMaxCapacity", "3", "", "maximum web instances"},
	{"workerMinCapacity", "1", "", "minimum worker instances"},
	{"workerMaxCapacity", "3", "", "maximum worker instances"},
	{"secondsPerVideo", "12", "", "measured ffmpeg seconds per video on one instance"},
	{"acceptableLatency", "3m", "", "acceptable queue wait of a video (Go duration)"},
	{"backlogTarget", "", "", "backlog per worker instance to track (default 10, chosen with scripts/scalesim; acceptableLatency/secondsPerVideo when either is given)"},
	{"natGateways", "2", "1", "NAT gateways (1 or 2)"},
	{"dbInstanceClass", "db.t4g.micro", "db.t3.micro", "RDS instance class"},
	{"multiAz", "true", "false", "Multi-AZ database"},
	{"dbStorageType", "gp3", "gp2", "RDS storage type (gp2 or gp3)"},
	{"dbAllocatedStorage", "20", "", "RDS storage at creation, GiB"},
	{"dbMaxAllocatedStorage", "100", "", "RDS storage autoscaling limit, GiB"},
	{"dbMonitoringInterval", "0", "", "RDS enhanced monitoring interval in seconds (0 = off; 1, 5, 10, 15, 30 or 60)"},
	{"removalPolicy", "retain", "destroy", "retain or destroy the data (buckets, database, secrets, logs) with the stack"},
	{"mailFrom", "", "", "sender address of a verified SES identity: the web nodes send verification mail through SES (empty: they keep it in their outbox, nothing is sent)"},
	{"voteCounting", "all", "", "all (every vote counts) or verified (votes of unverified accounts count once the account is verified; needs mailFrom)"},
	{"alarmEmail", "", "", `e-mail subscribed to the alarms, or "none" to deploy without a subscriber on purpose`},
	{"certificateArn", "", "", "ACM certificate ARN: HTTPS on 443 and HTTP->HTTPS redirect (optional)"},
	{"domainName", "", "", "the site's domain (with hostedZoneId; instead of certificateArn): a DNS-validated certificate, HTTPS and an alias record"},
	{"hostedZoneId", "", "", "Route 53 public hosted zone holding domainName (the domain's own zone or a parent's)"},
}

// noAlarmSubscriber is the alarmEmail that says "no subscriber, on purpose".
const noAlarmSubscriber = "none"

// retiredKeys were settings once; giving one fails instead of being ignored.
var retiredKeys = map[string]string{
	"instanceType": "replaced by webInstanceType and workerInstanceType",
}

// The deployment profiles.
const (
	profileStandard   = "standard"
	profileLearnerLab = "learner-lab"
)

// What an AWS Academy Learner Lab account allows (its README, "Service usage
// and other restrictions"); a stack that asks for more fails at deploy time
// or, past 20 instances, gets the account deactivated.
var (
	labRegions       = []string{"us-east-1", "us-west-2"}
	labInstanceSizes = []string{"nano", "micro", "small", "medium", "large"}
	labDatabaseSizes = []string{"micro", "small", "medium"}
	// labMaxInstances also keeps the lab's 32-vCPU cap: no size up to large
	// has more than 2 vCPUs, so 9 instances run at most 18.
	labMaxInstances  = 9.0
	labMaxStorageGiB = 100.0
)

// config is the parsed, validated deployment settings.
type config struct {
	Profile                                    string
	LabInstanceProfile, LabRole                string
	StackName, Region                          string
	WebInstanceType, WorkerInstanceType        string
	WebMin, WebMax, WorkerMin, WorkerMax       float64
	SecondsPerVideo, BacklogTarget, NatGateway float64
	AcceptableLatency                          time.Duration
	DBInstanceClass, DBStorageType             string
	DBStorage, DBMaxStorage, DBMonitoring      float64
	MultiAz                                    bool
	RemovalPolicy                              awscdk.RemovalPolicy
	AlarmEmail, CertificateArn                 string
	DomainName, HostedZoneId                   string
	MailFrom, VoteCounting                     string
	NoAlarmSubscriber                          bool
}

// learnerLab reports whether this is the learner-lab profile.
func (c config) learnerLab() bool { return c.Profile == profileLearnerLab }

// envName maps a context key to its environment variable: fooBar -> ANB_CDK_FOO_BAR.
func envName(key string) string {
	var b strings.Builder
	b.WriteString("ANB_CDK_")
	for _, r := range key {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

var (
	// What CDK can read an architecture from: family, generation, capabilities, size.
	instanceTypeRE = regexp.MustCompile(`^[a-z]+\d{1,2}[a-z-]*\.[a-z0-9-]+$`)
	stackNameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	certificateRE  = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+$`)
	// Two or more labels of letters, digits and inner hyphens; the last not
	// all digits (that would be an IP address).
	domainRE       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostedZoneIDRE = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	iamNameRE      = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
)

// loadConfig reads every key through get, applies the defaults and validates,
// so a bad setting fails synth with a message naming the key.
func loadConfig(get func(key string) (string, bool)) (config, error) {
	profile, _ := get("profile")
	lab := strings.TrimSpace(profile) == profileLearnerLab
	val := map[string]string{}
	given := map[string]bool{}
	for _, k := range contextKeys {
		v, ok := get(k.key)
		v = strings.TrimSpace(v)
		given[k.key] = ok && v != ""
		switch {
		case given[k.key]:
		case lab && k.lab != "":
			v = k.lab
		default:
			v = k.def
		}
		val[k.key] = v
	}
	var errs []error
	bad := func(key, want string) {
		errs = append(errs, fmt.Errorf("context %q (env %s) must be %s, got %q", key, envName(key), want, val[key]))
	}
	for key, why := range retiredKeys {
		if v, ok := get(key); ok && strings.TrimSpace(v) != "" {
			errs = append(errs, fmt.Errorf("context %q (env %s) is no longer a setting: %s", key, envName(key), why))
		}
	}
	number := func(key string, min, max float64) float64 {
		n, err := strconv.ParseFloat(val[key], 64)
		if err != nil || n < min || n > max || n != float64(int(n)) {
			bad(key, fmt.Sprintf("a whole number from %g to %g", min, max))
		}
		return n
	}
	c := config{
		Profile:            val["profile"],
		LabInstanceProfile: val["labInstanceProfile"],
		LabRole:            val["labRole"],
		StackName:          val["stackName"],
		Region:             val["region"],
		WebInstanceType:    val["webInstanceType"],
		WorkerInstanceType: val["workerInstanceType"],
		WebMin:             number("webMinCapacity", 1, 20),
		WebMax:             number("webMaxCapacity", 1, 20),
		WorkerMin:          number("workerMinCapacity", 1, 20),
		WorkerMax:          number("workerMaxCapacity", 1, 20),
		NatGateway:         number("natGateways", 1, 2),
		DBInstanceClass:    val["dbInstanceClass"],
		DBStorageType:      val["dbStorageType"],
		DBStorage:          number("dbAllocatedStorage", 20, 65536),
		DBMaxStorage:       number("dbMaxAllocatedStorage", 20, 65536),
		DBMonitoring:       number("dbMonitoringInterval", 0, 60),
		AlarmEmail:         val["alarmEmail"],
		MailFrom:           val["mailFrom"],
		VoteCounting:       val["voteCounting"],
		CertificateArn:     val["certificateArn"],
		// DNS names are case-insensitive; the CLI lists zones as /hostedzone/<id>.
		DomainName:   strings.TrimSuffix(strings.ToLower(val["domainName"]), "."),
		HostedZoneId: strings.TrimPrefix(val["hostedZoneId"], "/hostedzone/"),
	}
	switch c.Profile {
	case profileStandard:
		for _, key := range []string{"labInstanceProfile", "labRole"} {
			if given[key] {
				bad(key, "given only with profile=learner-lab")
			}
		}
	case profileLearnerLab:
		for _, key := range []string{"labInstanceProfile", "labRole"} {
			if !iamNameRE.MatchString(val[key]) {
				bad(key, "an IAM name such as "+contextDefault(key))
			}
		}
	default:
		bad("profile", profileStandard+" or "+profileLearnerLab)
	}
	if !stackNameRE.MatchString(c.StackName) {
		bad("stackName", "a CloudFormation stack name (letters, digits, hyphens)")
	}
	if c.Region == "" {
		c.Region = firstEnv("CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if !regionRE.MatchString(c.Region) {
		bad("region", "an AWS region such as us-east-1")
	}
	if !instanceTypeRE.MatchString(c.WebInstanceType) {
		bad("webInstanceType", "an EC2 instance type such as t3.small or t4g.small")
	}
	if !instanceTypeRE.MatchString(c.WorkerInstanceType) {
		bad("workerInstanceType", "an EC2 instance type such as c7i.large or c7g.large")
	}
	if !instanceTypeRE.MatchString(strings.TrimPrefix(c.DBInstanceClass, "db.")) {
		bad("dbInstanceClass", "an RDS instance class such as db.t4g.micro")
	}
	if c.DBStorageType != "gp2" && c.DBStorageType != "gp3" {
		bad("dbStorageType", "gp2 or gp3")
	}
	if len(errs) == 0 && c.DBStorage > c.DBMaxStorage {
		bad("dbAllocatedStorage", fmt.Sprintf("at most dbMaxAllocatedStorage (%g)", c.DBMaxStorage))
	}
	if !slices.Contains([]float64{0, 1, 5, 10, 15, 30, 60}, c.DBMonitoring) {
		bad("dbMonitoringInterval", "0 (off), 1, 5, 10, 15, 30 or 60")
	}
	if len(errs) == 0 && c.WebMin > c.WebMax {
		bad("webMinCapacity", fmt.Sprintf("at most webMaxCapacity (%g)", c.WebMax))
	}
	if len(errs) == 0 && c.WorkerMin > c.WorkerMax {
		bad("workerMinCapacity", fmt.Sprintf("at most workerMaxCapacity (%g)", c.WorkerMax))
	}
	var err error
	if c.SecondsPerVideo, err = strconv.ParseFloat(val["secondsPerVideo"], 64); err != nil || c.SecondsPerVideo <= 0 {
		bad("secondsPerVideo", "a positive number of seconds")
	}
	if c.AcceptableLatency, err = time.ParseDuration(val["acceptableLatency"]); err != nil || c.AcceptableLatency < time.Second {
		bad("acceptableLatency", "a Go duration of at least 1s, such as 3m")
	}
	if val["backlogTarget"] != "" {
		if c.BacklogTarget, err = strconv.ParseFloat(val["backlogTarget"], 64); err != nil || c.BacklogTarget <= 0 {
			bad("backlogTarget", "a positive number")
		}
	}
	if c.BacklogTarget == 0 && !given["acceptableLatency"] && !given["secondsPerVideo"] {
		c.BacklogTarget = anb.DefaultBacklogTarget
	}
	if c.MultiAz, err = strconv.ParseBool(val["multiAz"]); err != nil {
		bad("multiAz", "true or false")
	}
	switch val["removalPolicy"] {
	case "retain":
		c.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	case "destroy":
		c.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
	default:
		bad("removalPolicy", "retain or destroy")
	}
	if strings.EqualFold(c.AlarmEmail, noAlarmSubscriber) {
		c.AlarmEmail, c.NoAlarmSubscriber = "", true
	} else if c.AlarmEmail != "" {
		if a, err := mail.ParseAddress(c.AlarmEmail); err != nil || a.Address != c.AlarmEmail {
			bad("alarmEmail", `a plain e-mail address, or "none"`)
		}
	}
	if c.MailFrom != "" {
		if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Address != c.MailFrom {
			bad("mailFrom", "a plain e-mail address of a verified SES identity, such as votos@example.com")
		}
	}
	switch {
	case c.VoteCounting != "all" && c.VoteCounting != "verified":
		bad("voteCounting", "all or verified")
	case c.VoteCounting == "verified" && c.MailFrom == "":
		bad("voteCounting", "all unless mailFrom is given (nobody could verify an account, so no vote of a new account would ever count)")
	}
	if c.CertificateArn != "" {
		// The load balancer can only use a certificate of its own region.
		if m := certificateRE.FindStringSubmatch(c.CertificateArn); m == nil {
			bad("certificateArn", "an ACM certificate ARN")
		} else if m[1] != c.Region {
			bad("certificateArn", fmt.Sprintf("a certificate of the stack's region %s (an ALB only uses certificates of its region)", c.Region))
		}
	}
	switch {
	case c.DomainName != "" && (!domainRE.MatchString(c.DomainName) || len(c.DomainName) > 64):
		// ACM refuses a certificate whose first name is longer than 64 characters.
		bad("domainName", "a domain name of at most 64 characters such as videos.example.com (no wildcard, no scheme)")
	case c.DomainName != "" && c.HostedZoneId == "":
		bad("hostedZoneId", "given with domainName: the Route 53 hosted zone holding "+c.DomainName)
	case c.DomainName == "" && c.HostedZoneId != "":
		bad("domainName", "given with hostedZoneId: the site's domain in that hosted zone")
	case c.DomainName != "" && c.CertificateArn != "":
		// The stack makes the domain's certificate itself; a second one could
		// not cover the domain and would only fail in the browser.
		bad("certificateArn", "empty when domainName is given (the stack then creates the certificate); give one or the other")
	}
	if c.HostedZoneId != "" && !hostedZoneIDRE.MatchString(c.HostedZoneId) {
		bad("hostedZoneId", "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
	}
	if len(errs) == 0 && c.learnerLab() {
		errs = append(errs, c.learnerLabRefusals()...)
	}
	return c, errors.Join(errs...)
}

// learnerLabRefusals are the settings a Learner Lab account would refuse,
// each naming its key. Checked on otherwise valid settings.
func (c config) learnerLabRefusals() []error {
	var errs []error
	refuse := func(key, value, why string) {
		errs = append(errs, fmt.Errorf("context %q (env %s) = %q: the learner-lab profile refuses it: %s", key, envName(key), value, why))
	}
	if !slices.Contains(labRegions, c.Region) {
		refuse("region", c.Region, "a Learner Lab only runs in "+strings.Join(labRegions, " and "))
	}
	for _, t := range []struct{ key, typ string }{{"webInstanceType", c.WebInstanceType}, {"workerInstanceType", c.WorkerInstanceType}} {
		if !slices.Contains(labInstanceSizes, instanceSize(t.typ)) {
			refuse(t.key, t.typ, "a Learner Lab only launches sizes "+strings.Join(labInstanceSizes, ", "))
		}
	}
	if !strings.HasPrefix(c.DBInstanceClass, "db.t") || !slices.Contains(labDatabaseSizes, instanceSize(c.DBInstanceClass)) {
		refuse("dbInstanceClass", c.DBInstanceClass, "a Learner Lab only runs burstable database classes of sizes "+strings.Join(labDatabaseSizes, ", ")+" (db.t3.micro, db.t4g.small...)")
	}
	if c.DBStorageType != "gp2" {
		refuse("dbStorageType", c.DBStorageType, "a Learner Lab only allows gp2 database storage")
	}
	if c.DBMaxStorage > labMaxStorageGiB {
		refuse("dbMaxAllocatedStorage", fmt.Sprint(c.DBMaxStorage), fmt.Sprintf("a Learner Lab allows at most %g GiB of database storage", labMaxStorageGiB))
	}
	if c.DBMonitoring != 0 {
		refuse("dbMonitoringInterval", fmt.Sprint(c.DBMonitoring), "a Learner Lab has no enhanced monitoring (it needs a role of its own)")
	}
	// A worker draining its last job on scale-in or during a deploy still
	// runs while its group already counts its replacement: one more than the maxima.
	if peak := c.peakInstances(); peak > labMaxInstances {
		refuse("webMaxCapacity", fmt.Sprint(c.WebMax), fmt.Sprintf(
			"webMaxCapacity %g + workerMaxCapacity %g + 1 draining worker = %g instances, above the %g a Learner Lab runs at once (20 deactivate the account)",
			c.WebMax, c.WorkerMax, peak, labMaxInstances))
	}
	return errs
}

// peakInstances is the most instances the two groups can run at once.
func (c config) peakInstances() float64 { return c.WebMax + c.WorkerMax + 1 }

// instanceSize is what follows the family: "t3.small" -> "small",
// "db.t3.micro" -> "micro".
func instanceSize(typ string) string {
	return typ[strings.LastIndex(typ, ".")+1:]
}

// contextDefault is a key's standard default.
func contextDefault(key string) string {
	for _, k := range contextKeys {
		if k.key == key {
			return k.def
		}
	}
	panic("no context key " + key)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// stackProps turns the settings into the stack's props. Only the region is
// pinned: the account stays the deployer's, and synth needs no AWS access.
func (c config) stackProps(binariesDir string) *anb.StackProps {
	props := &anb.StackProps{
		StackProps: awscdk.StackProps{
			Env: &awscdk.Environment{Region: jsii.String(c.Region)},
		},
		BinariesDir:           binariesDir,
		WebInstanceType:       c.WebInstanceType,
		WorkerInstanceType:    c.WorkerInstanceType,
		WebMinCapacity:        c.WebMin,
		WebMaxCapacity:        c.WebMax,
		WorkerMinCapacity:     c.WorkerMin,
		WorkerMaxCapacity:     c.WorkerMax,
		BacklogTarget:         c.BacklogTarget,
		SecondsPerVideo:       c.SecondsPerVideo,
		AcceptableLatency:     c.AcceptableLatency,
		NatGateways:           c.NatGateway,
		DatabaseInstanceClass: c.DBInstanceClass,
		DatabaseStorage: anb.DatabaseStorage{
			Type:               c.DBStorageType,
			AllocatedGiB:       c.DBStorage,
			MaxAllocatedGiB:    c.DBMaxStorage,
			MonitoringInterval: c.DBMonitoring,
		},
		MultiAzDatabase:   jsii.Bool(c.MultiAz),
		RemovalPolicy:     c.RemovalPolicy,
		AlarmEmail:        c.AlarmEmail,
		NoAlarmSubscriber: c.NoAlarmSubscriber,
		CertificateArn:    c.CertificateArn,
		DomainName:        c.DomainName,
		HostedZoneId:      c.HostedZoneId,
		MailFrom:          c.MailFrom,
		VoteCounting:      c.VoteCounting,
	}
	if c.learnerLab() {
		props.LearnerLab = &anb.LearnerLab{InstanceProfileName: c.LabInstanceProfile, RoleName: c.LabRole}
		// The lab's credentials cannot assume the bootstrap's deploy roles
		// (it cannot create them): the CLI publishes the assets and deploys
		// with its own credentials, into the staging bucket of the role-less
		// bootstrap stack (cdk/bootstrap/learner-lab.yaml).
		props.Synthesizer = awscdk.NewCliCredentialsStackSynthesizer(nil)
	}
	return props
}
