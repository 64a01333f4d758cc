package constructs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Names of the executables inside a release directory: the package paths of
// the module's two main packages, so `go build -o DIR ./app ./worker` fills it.
const (
	AppBinary    = "app"
	WorkerBinary = "worker"
)

// BuildBinaries cross-compiles ./app and ./worker of the Go module at moduleDir
// into outDir for the instances (linux/amd64, static, reproducible: the same
// source always gives the same bytes, so an unchanged app keeps its asset hash
// and a deploy does not replace instances for nothing).
func BuildBinaries(moduleDir, outDir string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
		"-o", outDir+string(filepath.Separator), "./"+AppBinary, "./"+WorkerBinary)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cross-compiling ./%s and ./%s for linux/amd64: %w\n%s", AppBinary, WorkerBinary, err, out)
	}
	return nil
}

// ReleaseProps points at the built executables.
type ReleaseProps struct {
	// Dir holds the linux/amd64 executables "app" and "worker", as written by
	// BuildBinaries. Required.
	Dir string
}

// Release ships the two executables as S3 file assets (one per role, so a
// worker change does not replace the web nodes and vice versa).
type Release interface {
	cdkconstructs.Construct
	App() awss3assets.Asset
	Worker() awss3assets.Asset
}

type release struct {
	cdkconstructs.Construct
	app, worker awss3assets.Asset
}

// NewRelease stages the executables found in props.Dir.
func NewRelease(scope cdkconstructs.Construct, id string, props *ReleaseProps) Release {
	if props == nil || props.Dir == "" {
		panic("constructs.NewRelease: ReleaseProps.Dir (the directory of the built binaries) is required")
	}
	this := &release{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	asset := func(name string) awss3assets.Asset {
		path := filepath.Join(props.Dir, name)
		if _, err := os.Stat(path); err != nil {
			panic(fmt.Sprintf("constructs.NewRelease: %v (run BuildBinaries first)", err))
		}
		return awss3assets.NewAsset(this, jsii.String(name), &awss3assets.AssetProps{
			Path:        jsii.String(path),
			DisplayName: jsii.String("ANB " + name + " binary (linux/amd64)"),
		})
	}
	this.app, this.worker = asset(AppBinary), asset(WorkerBinary)
	return this
}

func (r *release) App() awss3assets.Asset    { return r.app }
func (r *release) Worker() awss3assets.Asset { return r.worker }
