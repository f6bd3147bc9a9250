/* What a libpython file says about itself, read without loading it.
 *
 * File names carry only 3.X and the ABI flags. The full version is the
 * PY_VERSION string ("3.14.2") that Py_GetVersion formats; it sits in the
 * library's read-only data as a NUL-terminated string, as does the
 * " free-threading build" text of free-threaded builds. The probe reads
 * them from the mapped .rodata section (a few MB, already in the page cache
 * for any library that was used) so it can report them without dlopen and
 * without spawning an interpreter. An unreadable file or an unexpected
 * layout gives "" and no claim, never an error: loading checks again. */
#include "loader/loader.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

char *pys__version_tag(char *buf, size_t n, int major, int minor, bool ft, bool debug)
{
    snprintf(buf, n, "%d.%d%s%s", major, minor, ft ? "t" : "", debug ? "d" : "");
    return buf;
}

/* The .rodata section of a 64-bit ELF file, or the whole file when it has
 * none (or another layout). */
static void rodata_of(const unsigned char *m, size_t size, size_t *off, size_t *len)
{
    *off = 0;
    *len = size;
    if (size < sizeof(Elf64_Ehdr) || memcmp(m, ELFMAG, SELFMAG) != 0 || m[EI_CLASS] != ELFCLASS64)
        return;
    Elf64_Ehdr eh;
    memcpy(&eh, m, sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff >= size ||
        eh.e_shnum > (size - eh.e_shoff) / sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum)
        return;
    Elf64_Shdr strs;
    memcpy(&strs, m + eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof strs);
    if (strs.sh_offset >= size || strs.sh_size > size - strs.sh_offset)
        return;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        memcpy(&sh, m + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
        if (sh.sh_name >= strs.sh_size || sh.sh_type != SHT_PROGBITS)
            continue;
        const char *name = (const char *)m + strs.sh_offset + sh.sh_name;
        size_t room = strs.sh_size - sh.sh_name;
        if (strncmp(name, ".rodata", room) == 0 && strnlen(name, room) == 7 &&
            sh.sh_offset < size && sh.sh_size <= size - sh.sh_offset) {
            *off = sh.sh_offset;
            *len = sh.sh_size;
            return;
        }
    }
}

/* p[0] any byte, then "3.MINOR." digits [ (a|b|rc) digits ] [ "+" ] "\0" */
static bool version_at(const unsigned char *p, const unsigned char *end, size_t plen, char *out,
                       size_t outsz)
{
    const unsigned char *q = p + plen;
    const unsigned char *digits = q;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    if (q == digits || q - digits > 3)
        return false;
    if (q < end && (*q == 'a' || *q == 'b' || *q == 'r')) {
        if (*q == 'r' && (q + 1 >= end || q[1] != 'c'))
            return false;
        q += *q == 'r' ? 2 : 1;
        const unsigned char *d2 = q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q == d2)
            return false;
    }
    if (q < end && *q == '+')
        q++;
    if (q >= end || *q != '\0')
        return false;
    size_t n = (size_t)(q - (p + 1));
    if (n + 1 > outsz)
        return false;
    memcpy(out, p + 1, n); /* p[0] is the NUL or the char before the version */
    out[n] = '\0';
    return true;
}

bool pys__lib_file_version(const char *path, int minor, char *out, size_t outsz, bool *ft)
{
    if (outsz)
        out[0] = '\0';
    if (ft)
        *ft = false;
    if (!path || outsz < 2 || minor < 0 || minor > 999)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 64) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return false;
    const unsigned char *m = map;
    size_t off, len;
    rodata_of(m, size, &off, &len);
    const unsigned char *start = m + off, *end = start + len;
    /* PY_VERSION as a string of its own; else as the tail of another one
     * (the linker merges "3.9.18" into "Python-3.9.18" of the build path). */
    char pat[16];
    int plen = snprintf(pat, sizeof pat, "%c3.%d.", '\0', minor);
    bool found = false;
    for (int pass = 0; pass < 2 && !found; pass++) {
        const char *needle = pass == 0 ? pat : pat + 1;
        size_t nlen = (size_t)(pass == 0 ? plen : plen - 1);
        for (const unsigned char *p = start; !found && p < end;) {
            p = memmem(p, (size_t)(end - p), needle, nlen);
            if (!p)
                break;
            bool edge = pass == 0 || (p > start && p[-1] != '.' && (p[-1] < '0' || p[-1] > '9'));
            if (edge)
                found = version_at(p - (pass == 0 ? 0 : 1), end, (size_t)plen, out, outsz);
            p++;
        }
    }
    if (ft) {
        static const char text[] = "free-threading build";
        *ft = memmem(start, len, text, sizeof text - 1) != NULL;
    }
    munmap(map, size);
    if (!found && outsz)
        out[0] = '\0';
    return found;
}
