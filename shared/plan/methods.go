package plan

import "sort"

// MethodInfo is everything gptailor's parts need to know about one merge
// method: the plan validator (model counts, the base), the merge engine
// (whether a tensor may be merged a slice at a time), the editor (which
// parameters to offer) and the search (whether its extension genes may
// pick it). The engine's implementations (native/merge) are tested to
// cover exactly the methods listed here.
type MethodInfo struct {
	Name                 string
	MinModels, MaxModels int  // MaxModels 0: no limit
	UsesBase             bool // reads the base: task vectors are taken against it
	// Scale is the method's scalar parameter: "lambda" (the task vector's
	// scale, default 1), "t" (slerp's interpolation, default 0.5) or "".
	Scale string
	// Density says the method sparsifies the task vectors (TIES, DARE,
	// breadcrumbs: the fraction of entries kept, default 1).
	Density bool
	// Elementwise says each output entry depends on the same entry of the
	// inputs alone, so a tensor may be merged a slice at a time with the
	// same result (TIES, DARE and breadcrumbs rank or sample over the whole
	// tensor; SLERP and model stock use its norms).
	Elementwise bool
	// Searchable says the search's extension genes (--methods) may pick it.
	Searchable bool
}

// methods is the one registry of merge methods, read through LookupMethod,
// MethodNames and SearchableMethods; unexported so nothing adds to it at
// run time.
var methods = []MethodInfo{
	{Name: "linear", MinModels: 1, Elementwise: true, Searchable: true},
	{Name: "task_arithmetic", MinModels: 1, UsesBase: true, Scale: "lambda", Elementwise: true, Searchable: true},
	{Name: "ties", MinModels: 1, UsesBase: true, Scale: "lambda", Density: true, Searchable: true},
	{Name: "dare_linear", MinModels: 1, UsesBase: true, Scale: "lambda", Density: true},
	{Name: "dare_ties", MinModels: 1, UsesBase: true, Scale: "lambda", Density: true},
	{Name: "breadcrumbs", MinModels: 1, UsesBase: true, Scale: "lambda", Density: true},
	{Name: "model_stock", MinModels: 2, UsesBase: true},
	{Name: "slerp", MinModels: 1, MaxModels: 1, UsesBase: true, Scale: "t", Searchable: true},
	{Name: "passthrough", MinModels: 1, MaxModels: 1, Elementwise: true},
}

// LookupMethod is the named method's entry; ok is false for a name the
// registry does not list.
func LookupMethod(name string) (info MethodInfo, ok bool) {
	for _, m := range methods {
		if m.Name == name {
			return m, true
		}
	}
	return MethodInfo{}, false
}

// MethodNames lists the merge methods in sorted order.
func MethodNames() []string {
	var out []string
	for _, m := range methods {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// SearchableMethods lists, sorted, the methods a search may pick per layer.
func SearchableMethods() []string {
	var out []string
	for _, m := range methods {
		if m.Searchable {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Info is the registry's entry for the merge's method (the zero entry for
// an unknown one, which Validate reports).
func (m *Merge) Info() MethodInfo {
	info, _ := LookupMethod(m.Method)
	return info
}
