from rest_framework.pagination import LimitOffsetPagination as _Base


class LimitOffsetPagination(_Base):
    default_limit = 50
    max_limit = 500
