// Command tlog-interop checks a log written by custodia with Go's independent
// implementation (golang.org/x/mod/sumdb/note and sumdb/tlog): the checkpoint's
// signature, every entry bundle against the level-0 tiles, the root recomputed from the
// entries, and any C2SP tlog-proof files given.
//
// Usage: go run . DIR VKEY [PROOF_FILE ENTRY]...
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func tileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

func tilePath(level string, n int64, w int64) string {
	p := "tile/" + level + "/" + tileIndex(n)
	if w < 256 {
		p += ".p/" + strconv.FormatInt(w, 10)
	}
	return p
}

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m[x]
	}
	return out, nil
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: tlog-interop DIR VKEY [PROOF ENTRY]...")
	}
	dir, vkey := os.Args[1], os.Args[2]
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != 32 {
		fail("root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	// Leaves from the entry bundles, checked against the level-0 tiles.
	var stored memHashes
	var leaves []tlog.Hash
	var entries [][]byte
	for t := int64(0); t*256 < size; t++ {
		w := size - t*256
		if w > 256 {
			w = 256
		}
		bundle, err := os.ReadFile(filepath.Join(dir, tilePath("entries", t, w)))
		if err != nil {
			fail("%v", err)
		}
		tile, err := os.ReadFile(filepath.Join(dir, tilePath("0", t, w)))
		if err != nil {
			fail("%v", err)
		}
		for i := int64(0); i < w; i++ {
			if len(bundle) < 2 {
				fail("bundle %d truncated", t)
			}
			l := int(binary.BigEndian.Uint16(bundle))
			e := bundle[2 : 2+l]
			bundle = bundle[2+l:]
			h := tlog.RecordHash(e)
			if !bytes.Equal(h[:], tile[32*i:32*i+32]) {
				fail("leaf %d: tile hash differs from the entry's record hash", t*256+i)
			}
			leaves = append(leaves, h)
			entries = append(entries, e)
		}
		if len(bundle) != 0 {
			fail("bundle %d has trailing bytes", t)
		}
	}
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, stored)
		if err != nil {
			fail("%v", err)
		}
		stored = append(stored, hs...)
	}
	got, err := tlog.TreeHash(size, stored)
	if err != nil {
		fail("%v", err)
	}
	if got != root {
		fail("root from the entries %v, checkpoint says %v", got, root)
	}
	fmt.Printf("ok: %s size %d: signature (x/mod/sumdb/note), %d leaves and root (x/mod/sumdb/tlog)\n", lines[0], size, len(leaves))

	for i := 3; i+1 < len(os.Args); i += 2 {
		text, err := os.ReadFile(os.Args[i])
		if err != nil {
			fail("%v", err)
		}
		parts := strings.SplitN(string(text), "\n\n", 2)
		head := strings.Split(parts[0], "\n")
		if head[0] != "c2sp.org/tlog-proof@v1" {
			fail("proof header %q", head[0])
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(head[1], "index "), 10, 64)
		if err != nil {
			fail("index: %v", err)
		}
		var proof tlog.RecordProof
		for _, l := range head[2:] {
			b, err := base64.StdEncoding.DecodeString(l)
			if err != nil || len(b) != 32 {
				fail("proof line %q", l)
			}
			var h tlog.Hash
			copy(h[:], b)
			proof = append(proof, h)
		}
		pn, err := note.Open([]byte(parts[1]), note.VerifierList(v))
		if err != nil {
			fail("proof checkpoint: %v", err)
		}
		pl := strings.Split(pn.Text, "\n")
		psize, _ := strconv.ParseInt(pl[1], 10, 64)
		prb, _ := base64.StdEncoding.DecodeString(pl[2])
		var proot tlog.Hash
		copy(proot[:], prb)
		if err := tlog.CheckRecord(proof, psize, proot, index, tlog.RecordHash([]byte(os.Args[i+1]))); err != nil {
			fail("inclusion proof %s: %v", os.Args[i], err)
		}
		fmt.Printf("ok: inclusion proof of index %d in size %d (x/mod/sumdb/tlog.CheckRecord)\n", index, psize)
	}
}
