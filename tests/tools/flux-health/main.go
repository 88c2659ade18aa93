// Command flux-health computes the health kustomize-controller gives an object, without a cluster.
//
//	flux-health KUSTOMIZATION.yaml < objects.json > verdicts.json   # with the Kustomization's healthCheckExprs
//	flux-health --kstatus < objects.json > verdicts.json            # without: kstatus's generic rules
//
// KUSTOMIZATION.yaml is a kustomize.toolkit.fluxcd.io/v1 Kustomization; its spec.healthCheckExprs are decoded
// strictly (an unknown key such as `inprogress` is an error) and handed to cel.NewStatusReader from
// github.com/fluxcd/pkg/runtime, the function kustomize-controller calls for them
// (internal/controller/kustomization_controller.go). The status readers are put together as the controller's
// status poller does: its custom readers (Jobs, then the CEL one) ahead of kstatus's readers, whose generic one
// (status.Compute) takes any kind no other reader supports. Each object of the JSON array on stdin is read by their
// ReadStatusForObject, as the poller reads an object it fetched; objects are decoded like an apiserver answer
// (whole numbers become int64). stdout is a JSON array with one entry per object:
//
//	{"status": "Current" | "InProgress" | "Failed" | "Unknown" | ..., "message": "...", "error": "..."}
//
// "Unknown" with an error is what Flux records when an expression cannot be evaluated (its wait keeps polling).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	kstatusreaders "github.com/fluxcd/cli-utils/pkg/kstatus/polling/statusreaders"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/runtime/cel"
	"github.com/fluxcd/pkg/runtime/statusreaders"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: flux-health KUSTOMIZATION.yaml|--kstatus < objects.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flux-health:", err)
		os.Exit(1)
	}
}

func run(path string, in io.Reader, out io.Writer) error {
	mapper := meta.NewDefaultRESTMapper(nil)
	// kustomize-controller's getClientAndPoller: the Job reader, then the CEL reader when there are expressions.
	custom := []engine.StatusReader{statusreaders.NewCustomJobStatusReader(mapper)}
	if path != "--kstatus" {
		checks, err := readHealthChecks(path)
		if err != nil {
			return err
		}
		newReader, err := cel.NewStatusReader(checks)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		custom = append(custom, newReader(mapper))
	}
	// polling.NewStatusPoller: the custom readers first, kstatus's own after them.
	reader := kstatusreaders.NewStatusReader(mapper, custom...)

	input, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(input, &objects); err != nil {
		return fmt.Errorf("stdin: a JSON array of objects: %w", err)
	}
	verdicts := make([]verdict, 0, len(objects))
	for i, raw := range objects {
		var u unstructured.Unstructured
		if err := u.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		// Readers of kinds without generated resources ignore the cluster reader: the status comes from the object.
		rs, err := reader.ReadStatusForObject(context.Background(), nil, &u)
		if err != nil {
			return fmt.Errorf("object %d (%s %s): %w", i, u.GetKind(), u.GetName(), err)
		}
		v := verdict{Status: rs.Status.String(), Message: rs.Message}
		if rs.Error != nil {
			v.Error = rs.Error.Error()
		}
		verdicts = append(verdicts, v)
	}
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", "  ")
	return encoder.Encode(verdicts)
}

// readHealthChecks returns spec.healthCheckExprs of the Kustomization in path.
func readHealthChecks(path string) ([]kustomize.CustomHealthCheck, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var k struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			HealthCheckExprs json.RawMessage `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(doc, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if k.APIVersion != "kustomize.toolkit.fluxcd.io/v1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("%s: a kustomize.toolkit.fluxcd.io/v1 Kustomization, not %s %s", path, k.APIVersion, k.Kind)
	}
	decoder := json.NewDecoder(bytes.NewReader(k.Spec.HealthCheckExprs))
	decoder.DisallowUnknownFields()
	var checks []kustomize.CustomHealthCheck
	if err := decoder.Decode(&checks); err != nil {
		return nil, fmt.Errorf("%s: spec.healthCheckExprs: %w", path, err)
	}
	if len(checks) == 0 {
		return nil, fmt.Errorf("%s: spec.healthCheckExprs is empty", path)
	}
	return checks, nil
}
