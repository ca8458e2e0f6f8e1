"""Operations (运维): O&M records, faults, service tickets and their SLA clocks."""
