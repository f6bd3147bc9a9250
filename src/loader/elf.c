/* What an interpreter binary links against, read from its ELF dynamic
 * section (DT_NEEDED, DT_RUNPATH / DT_RPATH) without running or loading it.
 * Only files of this process's class and byte order are read (any other
 * could not be dlopened here anyway). Every offset is bounds-checked
 * against the file size: a truncated or hostile file is "not an ELF". */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/loader.h"

#define MAX_PHDRS 256
#define MAX_DYN 4096

static bool rd(int fd, uint64_t size, uint64_t off, void *buf, size_t n)
{
    if (off > size || n > size - off)
        return false;
    ssize_t got = pread(fd, buf, n, (off_t)off);
    return got == (ssize_t)n;
}

/* The file offset of virtual address `va` through the PT_LOAD segments. */
static bool va_to_off(const ElfW(Phdr) *ph, size_t nph, uint64_t va, uint64_t *off)
{
    for (size_t i = 0; i < nph; i++)
        if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr && va - ph[i].p_vaddr < ph[i].p_filesz) {
            *off = ph[i].p_offset + (va - ph[i].p_vaddr);
            return true;
        }
    return false;
}

/* A NUL-terminated string of at most 4096 bytes at `off`; malloc'd. */
static char *rd_str(int fd, uint64_t size, uint64_t off)
{
    char buf[4097];
    if (off >= size)
        return NULL;
    size_t n = size - off < 4096 ? (size_t)(size - off) : 4096;
    ssize_t got = pread(fd, buf, n, (off_t)off);
    if (got <= 0)
        return NULL;
    buf[got] = '\0';
    if (strlen(buf) == (size_t)got)
        return NULL; /* unterminated */
    return pys__strdup(buf);
}

int pys__elf_deps(const char *path, char ***needed_out, size_t *nneeded_out, char **runpath_out)
{
    *needed_out = NULL;
    *nneeded_out = 0;
    *runpath_out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = -1;
    ElfW(Phdr) *ph = NULL;
    ElfW(Dyn) *dyn = NULL;
    char **needed = NULL;
    size_t nneeded = 0;
    struct stat st;
    ElfW(Ehdr) eh;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    uint64_t size = (uint64_t)st.st_size;
    if (!rd(fd, size, 0, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        goto out;
#if __SIZEOF_POINTER__ == 8
    if (eh.e_ident[EI_CLASS] != ELFCLASS64)
        goto out;
#else
    if (eh.e_ident[EI_CLASS] != ELFCLASS32)
        goto out;
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
        goto out;
#else
    if (eh.e_ident[EI_DATA] != ELFDATA2MSB)
        goto out;
#endif
    if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS)
        goto out;
    size_t nph = eh.e_phnum;
    ph = calloc(nph, sizeof *ph);
    if (!ph || !rd(fd, size, eh.e_phoff, ph, nph * sizeof *ph))
        goto out;
    const ElfW(Phdr) *pd = NULL;
    for (size_t i = 0; i < nph; i++)
        if (ph[i].p_type == PT_DYNAMIC)
            pd = &ph[i];
    if (!pd) {
        rc = 0; /* no dynamic section: a fully static binary */
        goto out;
    }
    size_t ndyn = (size_t)(pd->p_filesz / sizeof(ElfW(Dyn)));
    if (ndyn == 0 || ndyn > MAX_DYN)
        goto out;
    dyn = calloc(ndyn, sizeof *dyn);
    if (!dyn || !rd(fd, size, pd->p_offset, dyn, ndyn * sizeof *dyn))
        goto out;
    uint64_t strtab_va = 0, runpath = UINT64_MAX, rpath = UINT64_MAX;
    size_t nn = 0;
    bool have_strtab = false;
    for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag == DT_STRTAB) {
            strtab_va = dyn[i].d_un.d_ptr;
            have_strtab = true;
        } else if (dyn[i].d_tag == DT_NEEDED) {
            nn++;
        } else if (dyn[i].d_tag == DT_RUNPATH) {
            runpath = dyn[i].d_un.d_val;
        } else if (dyn[i].d_tag == DT_RPATH) {
            rpath = dyn[i].d_un.d_val;
        }
    }
    uint64_t stroff;
    if (!have_strtab || !va_to_off(ph, nph, strtab_va, &stroff))
        goto out;
    needed = calloc(nn + 1, sizeof *needed);
    if (!needed)
        goto out;
    for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag != DT_NEEDED)
            continue;
        char *s = rd_str(fd, size, stroff + dyn[i].d_un.d_val);
        if (!s)
            goto out;
        needed[nneeded++] = s;
    }
    uint64_t rp = runpath != UINT64_MAX ? runpath : rpath;
    if (rp != UINT64_MAX && !(*runpath_out = rd_str(fd, size, stroff + rp)))
        goto out;
    rc = 0;
out:
    if (rc == 0) {
        *needed_out = needed;
        *nneeded_out = nneeded;
    } else {
        for (size_t i = 0; i < nneeded; i++)
            free(needed[i]);
        free(needed);
        free(*runpath_out);
        *runpath_out = NULL;
    }
    free(ph);
    free(dyn);
    close(fd);
    return rc;
}
