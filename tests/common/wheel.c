#include "wheel.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int run_quiet(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

char *pyt_make_tinypkg_wheel(const char *python, const char *workdir)
{
    char path[4200], src[4096], wheels[4096], whl[4200];
    snprintf(src, sizeof src, "%s/tinypkg", workdir);
    snprintf(path, sizeof path, "%s/tinypkg", src);
    mkdir(src, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/tinypkg/__init__.py", src);
    if (write_text(path, "VALUE = 42\n\ndef main():\n    print(VALUE)\n") != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/pyproject.toml", src);
    if (write_text(path, "[build-system]\nrequires = [\"setuptools\"]\n"
                         "build-backend = \"setuptools.build_meta\"\n\n"
                         "[project]\nname = \"tinypkg\"\nversion = \"1.0\"\n\n"
                         "[project.scripts]\ntinypkg-hello = \"tinypkg:main\"\n") != 0)
        return NULL;
    snprintf(wheels, sizeof wheels, "%s/wheels", workdir);
    const char *pw[] = {python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", wheels, src, NULL};
    if (run_quiet(pw) != 0) {
        mkdir(wheels, 0755);
        const char *zw[] = {
            python, "-c",
            "import sys, zipfile, hashlib, base64\n"
            "di = 'tinypkg-1.0.dist-info/'\n"
            "files = {'tinypkg/__init__.py': b'VALUE = 42\\n\\ndef main():\\n    print(VALUE)\\n',\n"
            "  di + 'METADATA': b'Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n',\n"
            "  di + 'WHEEL': b'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
            "Tag: py3-none-any\\n',\n"
            "  di + 'entry_points.txt': b'[console_scripts]\\ntinypkg-hello = tinypkg:main\\n'}\n"
            "rec = []\n"
            "with zipfile.ZipFile(sys.argv[1] + '/tinypkg-1.0-py3-none-any.whl', 'w') as z:\n"
            "    for n, b in files.items():\n"
            "        z.writestr(n, b)\n"
            "        h = base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=')\n"
            "        rec.append('%s,sha256=%s,%d' % (n, h.decode(), len(b)))\n"
            "    z.writestr(di + 'RECORD', '\\n'.join(rec + [di + 'RECORD,,']) + '\\n')\n",
            wheels, NULL};
        if (run_quiet(zw) != 0)
            return NULL;
    }
    snprintf(whl, sizeof whl, "%s/tinypkg-1.0-py3-none-any.whl", wheels);
    struct stat st;
    if (stat(whl, &st) != 0)
        return NULL;
    return strdup(wheels);
}
