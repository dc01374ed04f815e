/* larchive.h - libarchive, bound lazily.
 *
 * libarchive drags libxml2, ICU and libstdc++ into the process when linked normally: that
 * tripled idle memory and startup time, and every child started through the exec guard
 * paid for it again. Only tar uploads and archive installs need it, so it is opened with
 * dlopen on first use. Call sites use the usual archive_* names; the macros below route
 * them through the table. */
#ifndef BASE_LARCHIVE_H
#define BASE_LARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#define BASE_ARCHIVE_FUNCS(X)                                                                      \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_hardlink_utf8)                                                                 \
    X(archive_entry_mtime)                                                                         \
    X(archive_entry_mtime_is_set)                                                                  \
    X(archive_entry_mtime_nsec)                                                                    \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_pathname_utf8)                                                                 \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_set_hardlink)                                                                  \
    X(archive_entry_set_pathname)                                                                  \
    X(archive_entry_size)                                                                          \
    X(archive_entry_size_is_set)                                                                   \
    X(archive_entry_symlink)                                                                       \
    X(archive_entry_symlink_utf8)                                                                  \
    X(archive_error_string)                                                                        \
    X(archive_read_data)                                                                           \
    X(archive_read_data_block)                                                                     \
    X(archive_read_free)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open)                                                                           \
    X(archive_read_open_fd)                                                                        \
    X(archive_read_open_filename)                                                                  \
    X(archive_read_open_memory)                                                                    \
    X(archive_read_support_filter_all)                                                             \
    X(archive_read_support_filter_bzip2)                                                           \
    X(archive_read_support_filter_gzip)                                                            \
    X(archive_read_support_filter_xz)                                                              \
    X(archive_read_support_filter_zstd)                                                            \
    X(archive_read_support_format_all)                                                             \
    X(archive_read_support_format_empty)                                                           \
    X(archive_read_support_format_tar)                                                             \
    X(archive_read_support_format_zip)                                                             \
    X(archive_set_error)                                                                           \
    X(archive_write_close)                                                                         \
    X(archive_write_data_block)                                                                    \
    X(archive_write_disk_new)                                                                      \
    X(archive_write_disk_set_options)                                                              \
    X(archive_write_finish_entry)                                                                  \
    X(archive_write_free)                                                                          \
    X(archive_write_header)

/* The table of libarchive entry points. Owner: larchive.c, for the process lifetime. */
typedef struct base_archive_api {
#define X(f) __typeof__(f) *f;
    BASE_ARCHIVE_FUNCS(X)
#undef X
} base_archive_api;

/* Loads libarchive on the first call (aborting with a clear message if the library is
 * missing, exactly as a failed dynamic link would have at startup). */
const base_archive_api *base_archive(void);

#ifndef BASE_LARCHIVE_IMPL
#define archive_entry_filetype (base_archive()->archive_entry_filetype)
#define archive_entry_hardlink (base_archive()->archive_entry_hardlink)
#define archive_entry_hardlink_utf8 (base_archive()->archive_entry_hardlink_utf8)
#define archive_entry_mtime (base_archive()->archive_entry_mtime)
#define archive_entry_mtime_is_set (base_archive()->archive_entry_mtime_is_set)
#define archive_entry_mtime_nsec (base_archive()->archive_entry_mtime_nsec)
#define archive_entry_pathname (base_archive()->archive_entry_pathname)
#define archive_entry_pathname_utf8 (base_archive()->archive_entry_pathname_utf8)
#define archive_entry_perm (base_archive()->archive_entry_perm)
#define archive_entry_set_hardlink (base_archive()->archive_entry_set_hardlink)
#define archive_entry_set_pathname (base_archive()->archive_entry_set_pathname)
#define archive_entry_size (base_archive()->archive_entry_size)
#define archive_entry_size_is_set (base_archive()->archive_entry_size_is_set)
#define archive_entry_symlink (base_archive()->archive_entry_symlink)
#define archive_entry_symlink_utf8 (base_archive()->archive_entry_symlink_utf8)
#define archive_error_string (base_archive()->archive_error_string)
#define archive_read_data (base_archive()->archive_read_data)
#define archive_read_data_block (base_archive()->archive_read_data_block)
#define archive_read_free (base_archive()->archive_read_free)
#define archive_read_new (base_archive()->archive_read_new)
#define archive_read_next_header (base_archive()->archive_read_next_header)
#define archive_read_open (base_archive()->archive_read_open)
#define archive_read_open_fd (base_archive()->archive_read_open_fd)
#define archive_read_open_filename (base_archive()->archive_read_open_filename)
#define archive_read_open_memory (base_archive()->archive_read_open_memory)
#define archive_read_support_filter_all (base_archive()->archive_read_support_filter_all)
#define archive_read_support_filter_bzip2 (base_archive()->archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip (base_archive()->archive_read_support_filter_gzip)
#define archive_read_support_filter_xz (base_archive()->archive_read_support_filter_xz)
#define archive_read_support_filter_zstd (base_archive()->archive_read_support_filter_zstd)
#define archive_read_support_format_all (base_archive()->archive_read_support_format_all)
#define archive_read_support_format_empty (base_archive()->archive_read_support_format_empty)
#define archive_read_support_format_tar (base_archive()->archive_read_support_format_tar)
#define archive_read_support_format_zip (base_archive()->archive_read_support_format_zip)
#define archive_set_error (base_archive()->archive_set_error)
#define archive_write_close (base_archive()->archive_write_close)
#define archive_write_data_block (base_archive()->archive_write_data_block)
#define archive_write_disk_new (base_archive()->archive_write_disk_new)
#define archive_write_disk_set_options (base_archive()->archive_write_disk_set_options)
#define archive_write_finish_entry (base_archive()->archive_write_finish_entry)
#define archive_write_free (base_archive()->archive_write_free)
#define archive_write_header (base_archive()->archive_write_header)
#endif

#endif
