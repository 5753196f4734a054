package daemon

// Loading: the embedded defaults, a YAML file merged over them key by key,
// and strict decoding that names an unknown key and its line.

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/warmbox/warmbox/sandbox"
	"go.yaml.in/yaml/v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// LoadConfig layers the embedded defaults, the YAML file at path (if
// path is not empty) and the environment, then validates.
func LoadConfig(path string, env func(string) string) (Config, error) {
	var user []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		user = b
	}
	cfg, err := parseConfig(user)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.applyEnv(env); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseConfig merges user YAML over the embedded defaults and decodes it
// strictly: an unknown key is an error that names it.
func parseConfig(user []byte) (Config, error) {
	base, err := parseNode(defaultsYAML, "embedded defaults")
	if err != nil {
		return Config{}, err
	}
	if len(bytes.TrimSpace(user)) > 0 {
		over, err := parseNode(user, "config file")
		if err != nil {
			return Config{}, err
		}
		if err := mergeNode(base, over, ""); err != nil {
			return Config{}, err
		}
	}
	langs := takeKey(base, "languages")
	cfg := defaultConfig()
	if err := strictDecode(base, &cfg, ""); err != nil {
		return Config{}, err
	}
	cfg.Languages = map[string]LanguageConfig{}
	if langs == nil {
		return cfg, nil
	}
	if langs.Kind != yaml.MappingNode {
		return Config{}, errors.New("config: languages: must be a mapping of language name to settings")
	}
	for i := 0; i+1 < len(langs.Content); i += 2 {
		name, node := langs.Content[i].Value, langs.Content[i+1]
		prefix := "languages." + name
		if !languageName.MatchString(name) {
			return Config{}, fmt.Errorf("config: %s: a language name must match %s", prefix, languageName)
		}
		if node.Kind != yaml.MappingNode {
			return Config{}, fmt.Errorf("config: %s: must be a mapping", prefix)
		}
		lc := LanguageConfig{Enabled: true, Env: defaultEnv, Handoff: sandbox.HandoffExec, Pool: cfg.Pool, Limits: cfg.Limits}
		// lc starts from the top-level limits and pool blocks; the
		// language's own blocks override them key by key.
		if err := strictDecode(node, &lc, prefix); err != nil {
			return Config{}, err
		}
		cfg.Languages[name] = lc
	}
	return cfg, nil
}

func parseNode(b []byte, what string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", what, err)
	}
	if doc.Kind == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s: must be a YAML mapping", what)
	}
	return doc.Content[0], nil
}

// mergeNode merges over into base: mappings merge key by key, anything
// else is replaced.
func mergeNode(base, over *yaml.Node, path string) error {
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		key := strings.TrimPrefix(path+"."+k.Value, ".")
		if bv := findKey(base, k.Value); bv != nil && bv.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
			if err := mergeNode(bv, v, key); err != nil {
				return err
			}
			continue
		}
		setKey(base, k.Value, v)
	}
	return nil
}

func findKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func takeKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return v
		}
	}
	return nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// strictDecode decodes node onto out, rejecting unknown keys by name.
func strictDecode(node *yaml.Node, out any, prefix string) error {
	b, err := yaml.Marshal(node)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// Line numbers refer to the re-encoded document: map them
			// back to key paths, which mean something to the user.
			var doc yaml.Node
			_ = yaml.Unmarshal(b, &doc)
			msgs := make([]string, 0, len(te.Errors))
			for _, e := range te.Errors {
				if m := unknownField.FindStringSubmatch(e); m != nil {
					msgs = append(msgs, fmt.Sprintf("unknown key %q%s", m[1], where(prefix)))
					continue
				}
				msg := stripLine(e)
				if m := lineRef.FindStringSubmatch(e); m != nil {
					line, _ := strconv.Atoi(m[1])
					if key := keyAtLine(&doc, line, prefix); key != "" {
						msg = key + ": " + msg
					}
				}
				msgs = append(msgs, msg)
			}
			return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
		}
		return fmt.Errorf("config%s: %w", where(prefix), err)
	}
	return nil
}

var lineRef = regexp.MustCompile(`^line (\d+): `)

// keyAtLine finds the dotted key whose value sits on line.
func keyAtLine(n *yaml.Node, line int, path string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if k := keyAtLine(c, line, path); k != "" {
				return k
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := strings.TrimPrefix(path+"."+n.Content[i].Value, ".")
			v := n.Content[i+1]
			if v.Line == line && v.Kind == yaml.ScalarNode {
				return key
			}
			if k := keyAtLine(v, line, key); k != "" {
				return k
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Line == line && c.Kind == yaml.ScalarNode {
				return path
			}
		}
	}
	return ""
}

func stripLine(s string) string { return lineRef.ReplaceAllString(s, "") }

func where(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " in " + prefix
}
