package engine

import "syscall"

// reserve maps n bytes of private, zeroed address space without reserving
// swap (MAP_NORESERVE): only the pages a guest touches become resident.
func reserve(n uint64) (buf []byte, release func(), ok bool) {
	if n == 0 || n > 1<<32 {
		return nil, nil, false
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, nil, false
	}
	return b, func() { _ = syscall.Munmap(b) }, true
}
