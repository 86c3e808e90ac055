package main

import (
	"archive/tar"
	"os"
	"strings"
	"time"
)

func main() {
	tw := tar.NewWriter(os.Stdout)
	t := time.Unix(1700000000, 0)
	pax := func(h *tar.Header, data string) {
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if data != "" {
			if _, err := tw.Write([]byte(data)); err != nil {
				panic(err)
			}
		}
	}
	pax(&tar.Header{Typeflag: tar.TypeDir, Name: "a_dir/", Mode: 0755, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "a_dir/hello", Mode: 0644, Uid: 1000, Gid: 1000, Size: 11, ModTime: t}, "hello world")
	pax(&tar.Header{Typeflag: tar.TypeLink, Name: "a_dir/link", Linkname: "a_dir/hello", Mode: 0644, Uid: 1000, Gid: 1000, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeSymlink, Name: "b_sym", Linkname: "/a_dir/hello", Mode: 0777, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeChar, Name: "c_dev", Mode: 0666, Devmajor: 1, Devminor: 3, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeFifo, Name: "d_fifo", Mode: 0600, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "e_xattr", Mode: 04755, Size: 2, ModTime: t,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20", "SCHILY.xattr.user.x": "y"}}, "ab")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "f_biguid", Mode: 0644, Uid: 3000000, Gid: 70000000, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "g_café", Mode: 0644, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "h_neg", Mode: 0644, ModTime: time.Unix(-1, 0)}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "i_" + strings.Repeat("d", 80) + "/" + strings.Repeat("f", 60), Mode: 0644, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeReg, Name: "j_" + strings.Repeat("x", 150), Mode: 0644, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeSymlink, Name: "k_longlink", Linkname: strings.Repeat("t", 150), Mode: 0777, ModTime: t}, "")
	pax(&tar.Header{Typeflag: tar.TypeDir, Name: "l_" + strings.Repeat("d", 120) + "/", Mode: 0755, ModTime: t}, "")
	// containerd's whiteout: no Format, ModTime/AccessTime/ChangeTime = Unix(0,0).
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "m_dir/.wh.gone", ModTime: time.Unix(0, 0), AccessTime: time.Unix(0, 0), ChangeTime: time.Unix(0, 0)}); err != nil {
		panic(err)
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
}
