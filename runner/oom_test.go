package runner

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadOOMKills(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		want   uint64
		wantOK bool
	}{
		{"v2", map[string]string{
			"memory.events": "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
		}, 2, true},
		{"v1", map[string]string{
			"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
		}, 7, true},
		{"v1 kernel without counter", map[string]string{
			"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n",
		}, 0, false},
		{"garbage", map[string]string{"memory.events": "oom_kill many\n"}, 0, false},
		{"none", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := readOOMKills(root)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
