// Command cdk is the CDK app of ANB Rising Stars (cdk.json: "go run ./cdk").
// It cross-compiles ./app and ./worker of this module for the architectures
// of their instance types, then synthesizes the stack, configured from CDK
// context (-c key=value, cdk.json) or ANB_CDK_* environment variables; see
// contextKeys.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	anb "github.com/anb/risingstars/constructs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cdk:", err)
		jsii.Close()
		os.Exit(1)
	}
	jsii.Close()
}

func run() error {
	app := anb.NewApp(nil)
	cfg, err := loadConfig(lookup(app))
	if err != nil {
		return err
	}
	moduleDir, err := findModuleDir()
	if err != nil {
		return err
	}
	binaries, err := os.MkdirTemp("", "anb-binaries-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binaries)
	props := cfg.stackProps(binaries)
	if err := anb.BuildBinaries(moduleDir, binaries, props.BinaryArchs()); err != nil {
		return err
	}
	anb.NewStack(app, cfg.StackName, props)
	app.Synth(nil)
	return nil
}

// lookup reads a setting from the app context, then from ANB_CDK_<KEY>.
func lookup(app awscdk.App) func(key string) (string, bool) {
	return func(key string) (string, bool) {
		if v := app.Node().TryGetContext(jsii.String(key)); v != nil {
			return fmt.Sprint(v), true
		}
		return os.LookupEnv(envName(key))
	}
}

// findModuleDir walks up from the working directory to go.mod: the CDK CLI
// runs the app from the directory of cdk.json, go test from cdk/.
func findModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}
