/* dlist.h -- intrusive doubly linked lists with a head and a tail.
 *
 * For any struct whose nodes carry their own links: the caller names the
 * head, tail and node lvalues and the link fields, so one list shape serves
 * the cache's LRU, the single-flight mailboxes and the fan-out gate's queue.
 * Arguments are evaluated more than once: pass plain lvalues. */
#ifndef HM_DLIST_H
#define HM_DLIST_H

#define HM_DLIST_APPEND(head, tail, n, prev, next) \
    do {                                           \
        (n)->next = NULL;                          \
        (n)->prev = (tail);                        \
        if (tail)                                  \
            (tail)->next = (n);                    \
        else                                       \
            (head) = (n);                          \
        (tail) = (n);                              \
    } while (0)

#define HM_DLIST_PREPEND(head, tail, n, prev, next) \
    do {                                            \
        (n)->prev = NULL;                           \
        (n)->next = (head);                         \
        if (head)                                   \
            (head)->prev = (n);                     \
        else                                        \
            (tail) = (n);                           \
        (head) = (n);                               \
    } while (0)

#define HM_DLIST_UNLINK(head, tail, n, prev, next) \
    do {                                           \
        if ((n)->prev)                             \
            (n)->prev->next = (n)->next;           \
        else                                       \
            (head) = (n)->next;                    \
        if ((n)->next)                             \
            (n)->next->prev = (n)->prev;           \
        else                                       \
            (tail) = (n)->prev;                    \
        (n)->prev = (n)->next = NULL;              \
    } while (0)

#endif
