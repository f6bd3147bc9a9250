/* Build helper: writes a file's bytes as a NUL-terminated C array, so the
 * CLI carries tools/gen.py without reading it at run time.
 *   embed INPUT OUTPUT NAME  ->  static const char NAME[] = {...};  */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed INPUT OUTPUT NAME\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        fclose(in);
        return 1;
    }
    fprintf(out, "/* Generated from %s by tools/embed.c. */\nstatic const char %s[] = {\n", argv[1], argv[3]);
    int c;
    size_t n = 0;
    while ((c = fgetc(in)) != EOF)
        fprintf(out, "%d,%s", c, ++n % 24 ? "" : "\n");
    fprintf(out, "0};\n");
    fclose(in);
    return fclose(out) == 0 ? 0 : 1;
}
