! The Fortran face of libweft-mpi.so: MPI_ALLREDUCE (separate buffers and MPI_IN_PLACE),
! MPI_BCAST, MPI_ALLGATHER, MPI_REDUCE and MPI_BARRIER through `use mpi`, checked against
! closed forms. Prints "N passed, N failed" on rank 0; exits 1 on any failure.
program collectives
    use mpi
    implicit none
    integer, parameter :: n = 100003
    integer :: ierr, rank, ranks, i, failed, passed, total_failed, total_passed
    integer, allocatable :: a(:), b(:), gathered(:)
    double precision, allocatable :: x(:), y(:)

    call MPI_INIT(ierr)
    call MPI_COMM_RANK(MPI_COMM_WORLD, rank, ierr)
    call MPI_COMM_SIZE(MPI_COMM_WORLD, ranks, ierr)
    allocate(a(n), b(n), x(n), y(n), gathered(n * ranks))
    failed = 0
    passed = 0

    do i = 1, n
        a(i) = rank + i
        x(i) = dble(rank * 2 + mod(i, 7))
    end do
    call MPI_ALLREDUCE(a, b, n, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
    call expect(ierr == 0 .and. all(b == [(ranks * i + ranks * (ranks - 1) / 2, i = 1, n)]), 'allreduce separate')

    b = a
    call MPI_ALLREDUCE(MPI_IN_PLACE, b, n, MPI_INTEGER, MPI_MAX, MPI_COMM_WORLD, ierr)
    call expect(ierr == 0 .and. all(b == [(ranks - 1 + i, i = 1, n)]), 'allreduce in place')

    call MPI_ALLREDUCE(x, y, n, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
    call expect(ierr == 0 .and. all(y == [(dble(ranks * (ranks - 1) + ranks * mod(i, 7)), i = 1, n)]), &
                'allreduce double')

    b = a
    call MPI_BCAST(b, n, MPI_INTEGER, ranks - 1, MPI_COMM_WORLD, ierr)
    call expect(ierr == 0 .and. all(b == [(ranks - 1 + i, i = 1, n)]), 'bcast')

    call MPI_ALLGATHER(a, n, MPI_INTEGER, gathered, n, MPI_INTEGER, MPI_COMM_WORLD, ierr)
    call expect(ierr == 0 .and. gathered(n * (ranks - 1) + 1) == ranks, 'allgather')

    b = -1
    call MPI_REDUCE(a, b, n, MPI_INTEGER, MPI_MIN, 0, MPI_COMM_WORLD, ierr)
    if (rank == 0) call expect(ierr == 0 .and. all(b == [(i, i = 1, n)]), 'reduce')

    call MPI_BARRIER(MPI_COMM_WORLD, ierr)
    call expect(ierr == 0, 'barrier')

    call PMPI_REDUCE(failed, total_failed, 1, MPI_INTEGER, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
    call PMPI_REDUCE(passed, total_passed, 1, MPI_INTEGER, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
    if (rank == 0) print '(I0, " passed, ", I0, " failed")', total_passed, total_failed
    call MPI_FINALIZE(ierr)
    if (failed > 0) stop 1

contains
    subroutine expect(ok, name)
        logical, intent(in) :: ok
        character(*), intent(in) :: name
        if (ok) then
            passed = passed + 1
        else
            failed = failed + 1
            print '("FAIL: fortran ", A, " rank ", I0)', name, rank
        end if
    end subroutine
end program
