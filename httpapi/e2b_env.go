package httpapi

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Environment variables of E2B sandboxes (create's envVars) and runs
// (runCode's envs, for that run only), set by cells of their own in the
// context's interpreter: the interpreter's environment is fixed when it
// starts, as every sandbox's is.

// envCell sets vars in a session of language for good.
func envCell(language string, vars map[string]string) string {
	object, _ := json.Marshal(vars)
	switch language {
	case "python":
		return "__import__('os').environ.update(" + string(object) + ")"
	case "node":
		return "Object.assign(process.env, " + string(object) + "); undefined"
	}
	var sb strings.Builder
	for _, k := range sortedKeys(vars) {
		if validEnvName(k) {
			sb.WriteString("export " + k + "=" + shellQuote(vars[k]) + "\n")
		}
	}
	return sb.String()
}

// envSaveCell sets vars after keeping their values, for envRestoreCell.
func envSaveCell(language string, vars map[string]string) string {
	keys, _ := json.Marshal(sortedKeys(vars))
	switch language {
	case "python":
		return "__warmbox_env = {k: __import__('os').environ.get(k) for k in " + string(keys) + "}\n" + envCell(language, vars)
	case "node":
		return "globalThis.__warmbox_env = Object.fromEntries(" + string(keys) + ".map((k) => [k, process.env[k]])); " + envCell(language, vars)
	}
	var sb strings.Builder
	for _, k := range sortedKeys(vars) {
		if validEnvName(k) {
			// ${K+set}: whether it was set; its value kept aside.
			sb.WriteString("__warmbox_was_" + k + "=${" + k + "+set}; __warmbox_old_" + k + "=${" + k + "-}\n")
		}
	}
	sb.WriteString("__warmbox_env_keys=" + shellQuote(strings.Join(sortedKeys(vars), " ")) + "\n")
	return sb.String() + envCell(language, vars)
}

// envRestoreCell puts back what envSaveCell changed.
func envRestoreCell(language string) string {
	switch language {
	case "python":
		return "for __warmbox_k, __warmbox_v in __warmbox_env.items():\n" +
			"    __import__('os').environ.pop(__warmbox_k, None) if __warmbox_v is None else __import__('os').environ.__setitem__(__warmbox_k, __warmbox_v)\n" +
			"del __warmbox_env, __warmbox_k, __warmbox_v"
	case "node":
		return "for (const [k, v] of Object.entries(globalThis.__warmbox_env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; } delete globalThis.__warmbox_env; undefined"
	}
	return `for __warmbox_k in $__warmbox_env_keys; do
  __warmbox_was="__warmbox_was_$__warmbox_k"; __warmbox_old="__warmbox_old_$__warmbox_k"
  if [ -n "${!__warmbox_was}" ]; then export "$__warmbox_k=${!__warmbox_old}"; else unset "$__warmbox_k"; fi
  unset "$__warmbox_was" "$__warmbox_old"
done
unset __warmbox_k __warmbox_was __warmbox_old __warmbox_env_keys`
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// validEnvName: a shell variable name (others cannot be exported).
func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellQuote quotes s for bash: single quotes, each ' as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
