/* An intrusive doubly-linked list (core/list.h), for every area's lists.
 *
 * A pys__list head points at the first element's pys__link; each link has
 * the next link and the address of the pointer that points at it (the
 * head's `first` or the previous link's `next`), so unlinking needs
 * neither the head nor a walk. Zeroed heads and links are valid: an empty
 * list, an element on none. Elements go on the front. Not synchronised:
 * the list's owner holds its lock. */
#ifndef PYS_CORE_LIST_H
#define PYS_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pys__link {
    struct pys__link *next;
    struct pys__link **pprev; /* NULL: on no list */
} pys__link;

typedef struct pys__list {
    pys__link *first;
} pys__list;

/* Puts n (on no list) at the front of l. */
static inline void pys__list_push(pys__list *l, pys__link *n)
{
    n->next = l->first;
    if (n->next)
        n->next->pprev = &n->next;
    l->first = n;
    n->pprev = &l->first;
}

/* Whether n is on a list. */
static inline bool pys__list_linked(const pys__link *n)
{
    return n->pprev != NULL;
}

/* Takes n off its list; nothing if it is on none. */
static inline void pys__list_remove(pys__link *n)
{
    if (!n->pprev)
        return;
    *n->pprev = n->next;
    if (n->next)
        n->next->pprev = n->pprev;
    n->next = NULL;
    n->pprev = NULL;
}

/* The element whose member `off` bytes in is link n, or NULL for NULL. */
static inline void *pys__list_elem(pys__link *n, size_t off)
{
    return n ? (void *)((char *)n - off) : NULL;
}

/* The first element (of type `type`, linked through `member`) of l, or NULL. */
#define PYS__LIST_FIRST(type, l, member)                                                          \
    ((type *)pys__list_elem((l)->first, offsetof(type, member)))
/* The element after e, or NULL. */
#define PYS__LIST_NEXT(type, e, member)                                                           \
    ((type *)pys__list_elem((e)->member.next, offsetof(type, member)))
/* for (type *var ...) over l, front to back; var must stay on the list
 * until the next step (take it off only with PYS__LIST_EACH_SAFE). */
#define PYS__LIST_EACH(type, var, l, member)                                                      \
    for (type *var = PYS__LIST_FIRST(type, l, member); var; var = PYS__LIST_NEXT(type, var, member))
/* The same, where the body may take var off the list (nx is the next). */
#define PYS__LIST_EACH_SAFE(type, var, nx, l, member)                                             \
    for (type *var = PYS__LIST_FIRST(type, l, member),                                            \
              *nx = var ? PYS__LIST_NEXT(type, var, member) : NULL;                               \
         var; var = nx, nx = var ? PYS__LIST_NEXT(type, var, member) : NULL)

#endif
